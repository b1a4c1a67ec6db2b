//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// benchPassword encrypts the throwaway signing key made for the sign op.
const benchPassword = "vessel-bench"

// tool builds the command lines of one CLI. Commands write to out; the
// caller sets their environment.
type tool struct {
	name    string
	bin     string
	version string
	push    func(ctx context.Context, out io.Writer, m model, ref string) *exec.Cmd
	// pull gets a fresh, empty cacheDir per run; tools without a local
	// content store ignore it.
	pull func(ctx context.Context, out io.Writer, ref, dest, cacheDir string) *exec.Cmd
	copy func(ctx context.Context, out io.Writer, src, dst string) *exec.Cmd
	// sign is nil for tools the bench does not sign with.
	sign func(ctx context.Context, out io.Writer, ref, key string) *exec.Cmd
	keys signingKeys
	// resumes: pull keeps partial downloads in cacheDir and resumes them.
	resumes bool
	notes   []string // what the bench detected about this tool, for the report
}

// signingKeys are two files holding private keys for the sign ops: one as
// `vessel keygen` writes it (encrypted with scrypt, which dominates the time
// and memory of signing), one unencrypted PKCS#8 PEM (signing alone).
type signingKeys struct {
	encrypted string
	pkcs8     string
	pkcs8Pub  string // its public key, for verified pulls
}

func (t tool) supports(op string) bool {
	switch op {
	case opSign, opSignPKCS8:
		return t.sign != nil
	case opResume:
		return t.resumes
	}
	return true
}

func setupTools(ctx context.Context, opts options, vesselBin, repoRoot, work string) ([]tool, error) {
	var tools []tool
	for _, name := range opts.tools {
		var t tool
		var err error
		switch name {
		case "vessel":
			t, err = vesselTool(ctx, vesselBin, filepath.Join(work, "key"))
		case "oras":
			t, err = orasTool(ctx, opts.oras, repoRoot)
		}
		if err != nil {
			return nil, err
		}
		logf("%s: %s (%s)", t.name, t.bin, t.version)
		for _, n := range t.notes {
			logf("%s: %s", t.name, n)
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// buildVessel returns bin, or builds ./cmd/vessel into the work directory
// when bin is empty.
func buildVessel(ctx context.Context, bin, repoRoot, work string) (string, error) {
	if bin != "" {
		if err := checkExecutable(bin, "pass a built vessel binary"); err != nil {
			return "", fmt.Errorf("vessel: %w", err)
		}
		return bin, nil
	}
	bin = filepath.Join(work, "bin", "vessel")
	if err := goBuild(ctx, repoRoot, "./cmd/vessel", bin); err != nil {
		return "", fmt.Errorf("vessel: %w (pass -vessel PATH, or -tools oras -registries distribution to bench oras alone)", err)
	}
	return bin, nil
}

// goBuild builds the command package pkg of the vessel module into dst.
func goBuild(ctx context.Context, repoRoot, pkg, dst string) error {
	logf("building %s", pkg)
	cmd := newCmd(ctx, os.Stderr, "go", "build", "-o", dst, pkg)
	cmd.Dir = repoRoot
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w", pkg, repoRoot, err)
	}
	return nil
}

// vesselTool detects from --help what this vessel build offers, so the bench
// runs against vessel before and after a flag lands, and makes the signing
// keys for the sign ops in keyDir.
func vesselTool(ctx context.Context, bin, keyDir string) (tool, error) {
	t := tool{name: "vessel", bin: bin, version: firstLine(ctx, bin, "--version")}

	// The generated model is unsigned and the bench measures transfer, so
	// pull and copy opt out of signature checks where vessel requires them.
	pullHelp := help(ctx, bin, "pull")
	var pullFlags, copyFlags []string
	if bytes.Contains(pullHelp, []byte("--insecure-skip-verify")) {
		pullFlags = append(pullFlags, "--insecure-skip-verify")
	}
	if bytes.Contains(help(ctx, bin, "copy"), []byte("--insecure-skip-verify")) {
		copyFlags = append(copyFlags, "--insecure-skip-verify")
	}
	cacheFlag := bytes.Contains(pullHelp, []byte("--cache-dir"))
	t.resumes = cacheFlag
	if !cacheFlag {
		t.notes = append(t.notes, "pull has no --cache-dir: resume op skipped")
	}

	t.push = func(ctx context.Context, out io.Writer, m model, ref string) *exec.Cmd {
		return newCmd(ctx, out, bin, "push", "--quiet", m.dir, ref)
	}
	t.pull = func(ctx context.Context, out io.Writer, ref, dest, cacheDir string) *exec.Cmd {
		args := append([]string{"pull", "--quiet"}, pullFlags...)
		if cacheFlag {
			args = append(args, "--cache-dir", cacheDir)
		}
		return newCmd(ctx, out, bin, append(args, ref, dest)...)
	}
	t.copy = func(ctx context.Context, out io.Writer, src, dst string) *exec.Cmd {
		args := append([]string{"copy", "--quiet"}, copyFlags...)
		return newCmd(ctx, out, bin, append(args, src, dst)...)
	}

	keys, err := makeKeys(ctx, bin, keyDir)
	if err != nil {
		return tool{}, err
	}
	t.keys = keys
	t.sign = func(ctx context.Context, out io.Writer, ref, key string) *exec.Cmd {
		return newCmd(ctx, out, bin, "sign", "--quiet", "--key", key, ref)
	}
	return t, nil
}

func makeKeys(ctx context.Context, vessel, dir string) (signingKeys, error) {
	keys := signingKeys{
		encrypted: filepath.Join(dir, "cosign.key"),
		pkcs8:     filepath.Join(dir, "pkcs8.pem"),
		pkcs8Pub:  filepath.Join(dir, "pkcs8.pub"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return keys, fmt.Errorf("signing keys: %w", err)
	}
	var out bytes.Buffer
	keygen := newCmd(ctx, &out, vessel, "keygen", "--output-key-prefix", filepath.Join(dir, "cosign"))
	keygen.Env = append(os.Environ(), "VESSEL_PASSWORD="+benchPassword)
	if err := keygen.Run(); err != nil {
		return keys, fmt.Errorf("vessel keygen: %w; output:\n%s", err, out.String())
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keys, fmt.Errorf("signing keys: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return keys, fmt.Errorf("signing keys: %w", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(keys.pkcs8, pemBytes, 0o600); err != nil {
		return keys, fmt.Errorf("signing keys: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err == nil {
		err = os.WriteFile(keys.pkcs8Pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
	}
	if err != nil {
		return keys, fmt.Errorf("signing keys: %w", err)
	}
	return keys, nil
}

func orasTool(ctx context.Context, bin, repoRoot string) (tool, error) {
	if bin == "" {
		bin = filepath.Join(repoRoot, ".bin", "oras")
	}
	if err := checkExecutable(bin, "hack/install-tools.sh builds it"); err != nil {
		return tool{}, fmt.Errorf("oras: %w", err)
	}
	return tool{
		name:    "oras",
		bin:     bin,
		version: strings.TrimSpace(strings.TrimPrefix(firstLine(ctx, bin, "version"), "Version:")),
		// Run from inside the model directory with relative paths, so each
		// layer's title is the file's path in the model ("tokenizer/merges.txt").
		push: func(ctx context.Context, out io.Writer, m model, ref string) *exec.Cmd {
			args := append([]string{"push", "--plain-http", ref}, m.files...)
			cmd := newCmd(ctx, out, bin, args...)
			cmd.Dir = m.dir
			return cmd
		},
		pull: func(ctx context.Context, out io.Writer, ref, dest, _ string) *exec.Cmd {
			return newCmd(ctx, out, bin, "pull", "--plain-http", "-o", dest, ref)
		},
		// -r: with referrers, like vessel copy.
		copy: func(ctx context.Context, out io.Writer, src, dst string) *exec.Cmd {
			return newCmd(ctx, out, bin, "cp", "-r", "--from-plain-http", "--to-plain-http", src, dst)
		},
	}, nil
}

func help(ctx context.Context, bin, command string) []byte {
	out, _ := exec.CommandContext(ctx, bin, command, "--help").CombinedOutput()
	return out
}

// firstLine runs bin args and returns the first line of its output, or
// "version unknown" if it fails (vessel may not have --version yet).
func firstLine(ctx context.Context, bin string, args ...string) string {
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil || line == "" {
		return "version unknown"
	}
	return strings.TrimSpace(line)
}
