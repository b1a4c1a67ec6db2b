package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/oms"
)

// omsData is the repository's testdata/oms (see its README).
func omsData(t *testing.T, elem ...string) string {
	t.Helper()
	return testutil.Testdata(t, append([]string{"oms"}, elem...)...)
}

func refTests(t *testing.T, elem ...string) string {
	return omsData(t, append([]string{"model-transparency", "scripts", "tests"}, elem...)...)
}

// copyDir copies a directory into a fresh temporary one.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestVerifyDirReference: the reference's golden signatures and the spec's
// valid vectors, verified with the flags scripts/tests/test-verify-*.sh use.
func TestVerifyDirReference(t *testing.T) {
	pub := refTests(t, "keys", "certificate", "signing-key-pub.pem")
	ca := refTests(t, "keys", "certificate", "ca-cert.pem")
	trustedRoot := omsData(t, "sigstore-root-signing", "targets", "trusted_root.json")
	keyless := []string{"--certificate-identity", "stefanb@us.ibm.com", "--certificate-oidc-issuer", "https://sigstore.verify.ibm.com/oauth2", "--trusted-root", trustedRoot}
	specKeyModel := copyDir(t, refTests(t, "v1.0.1-elliptic-key"))
	specSigstoreModel := copyDir(t, refTests(t, "v1.0.1-sigstore"))
	vector := func(name string) string {
		return omsData(t, "model-signing-spec", "test-vectors", "v1.0", "valid", name)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"v1.0.0 key, single file", []string{refTests(t, "v1.0.0-elliptic-key", "signme-1"), "--signature", refTests(t, "v1.0.0-elliptic-key", "model.sig"), "--key", pub}, "Signer     key " + pub},
		{"v1.0.0 certificate", []string{refTests(t, "v1.0.0-certificate"), "--signature", refTests(t, "v1.0.0-certificate", "model.sig"), "--certificate-chain", ca}, "Signer     certificate CN=intermediate-ca"},
		{"v1.0.0 sigstore", append([]string{refTests(t, "v1.0.0-sigstore"), "--signature", refTests(t, "v1.0.0-sigstore", "model.sig")}, keyless...), "Signer     sigstore stefanb@us.ibm.com (issuer https://sigstore.verify.ibm.com/oauth2)"},
		// --ignore-paths as the upstream scripts pass it: a path to the file
		// inside the model, not relative to it.
		{"v1.0.1 key", []string{refTests(t, "v1.0.1-elliptic-key"), "--ignore-paths", refTests(t, "v1.0.1-elliptic-key", "ignore-me"), "--signature", refTests(t, "v1.0.1-elliptic-key", "model.sig"), "--key", pub}, "2 signed file(s) match"},
		{"v1.0.1 certificate", []string{refTests(t, "v1.0.1-certificate"), "--ignore-paths", "ignore-me", "--signature", refTests(t, "v1.0.1-certificate", "model.sig"), "--certificate-chain", ca}, "2 signed file(s) match"},
		{"v1.0.1 sigstore", append([]string{refTests(t, "v1.0.1-sigstore"), "--ignore-paths", "ignore-me", "--signature", refTests(t, "v1.0.1-sigstore", "model.sig")}, keyless...), "Statement  https://model_signing/signature/v1.0, model \"v1.0.1-sigstore\" sha256:61d4849d"},
		{"v1.0.1 unsigned accepted", []string{refTests(t, "v1.0.1-elliptic-key"), "--ignore-unsigned-files", "--signature", refTests(t, "v1.0.1-elliptic-key", "model.sig"), "--key", pub}, "Unsigned   ignore-me"},
		{"spec key vector", []string{specKeyModel, "--signature", vector("key.bundle.json"), "--ignore-paths", "model.sig", "--key", pub}, "Hashing    whole files, sha256, 2 digest(s)"},
		{"spec certificate vector", []string{specKeyModel, "--signature", vector("certificate.bundle.json"), "--ignore-paths", "model.sig", "--certificate-chain", ca}, "Signer     certificate CN=intermediate-ca"},
		{"spec sigstore vector", append([]string{specSigstoreModel, "--signature", vector("sigstore.bundle.json"), "--ignore-paths", "model.sig"}, keyless...), "Signer     sigstore stefanb@us.ibm.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, append([]string{"verify-dir"}, tt.args...)...)
			if code != exitOK || !strings.Contains(stdout, tt.want) {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

func TestVerifyDirRefusalsExit3(t *testing.T) {
	pub := refTests(t, "keys", "certificate", "signing-key-pub.pem")
	ca := refTests(t, "keys", "certificate", "ca-cert.pem")
	_, otherPub, err := attest.GenerateKeyPair([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(other, otherPub, 0o644); err != nil {
		t.Fatal(err)
	}
	tampered := copyDir(t, refTests(t, "v1.0.1-elliptic-key"))
	if err := os.WriteFile(filepath.Join(tampered, "signme-1"), []byte("signme-X\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := refTests(t, "v1.0.1-elliptic-key")
	sig := filepath.Join(model, "model.sig")
	invalid := func(name string) string {
		return omsData(t, "model-signing-spec", "test-vectors", "v1.0", name)
	}
	for name, args := range map[string][]string{
		"unsigned ignore-me":    {model, "--signature", sig, "--key", pub},
		"other key":             {model, "--ignore-paths", "ignore-me", "--signature", sig, "--key", other},
		"key bundle, CA":        {model, "--ignore-paths", "ignore-me", "--signature", sig, "--certificate-chain", ca},
		"changed file":          {tampered, "--ignore-paths", "ignore-me", "--signature", filepath.Join(tampered, "model.sig"), "--key", pub},
		"empty bundle":          {model, "--signature", invalid("invalid/empty.bundle.json"), "--key", pub},
		"no envelope":           {model, "--signature", invalid("invalid/missing-envelope.bundle.json"), "--key", pub},
		"no material":           {model, "--signature", invalid("invalid/missing-verification-material.bundle.json"), "--key", pub},
		"wrong predicate":       {model, "--signature", invalid("invalid-payload/wrong-predicate.bundle.json"), "--key", pub},
		"other keyless subject": {refTests(t, "v1.0.1-sigstore"), "--ignore-paths", "ignore-me", "--signature", refTests(t, "v1.0.1-sigstore", "model.sig"), "--certificate-identity", "someone@example.com", "--certificate-oidc-issuer", "https://sigstore.verify.ibm.com/oauth2", "--trusted-root", omsData(t, "sigstore-root-signing", "targets", "trusted_root.json")},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := run(t, append([]string{"verify-dir"}, args...)...)
			if code != exitVerification || stdout != "" || !strings.Contains(stderr, "verification failed") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
		})
	}
}

func TestDirUsageErrorsExit2(t *testing.T) {
	pub := refTests(t, "keys", "certificate", "signing-key-pub.pem")
	key := refTests(t, "keys", "certificate", "signing-key.pem")
	m := t.TempDir()
	for _, args := range [][]string{
		{"verify-dir", m, "--key", pub},
		{"verify-dir", m, "--signature", "s"},
		{"verify-dir", m, "--signature", "s", "--certificate-chain", pub, "--certificate-oidc-issuer", "https://issuer.example"},
		{"verify-dir", m, "--signature", "s", "--certificate-identity", "me@example.com"},
		{"verify-dir", m, "--signature", "s", "--key", pub, "--trusted-root", "tr.json"},
		{"verify-dir", m, "--signature", "s", "--key", pub, "--ignore-paths", "../x"},
		{"verify-dir", m, "--signature", "s", "--key", pub, "--ignore-paths", "/elsewhere/x"},
		{"verify-dir", m, "--signature", "s", "--key", pub, "-o", "yaml"},
		{"verify-dir", "--signature", "s", "--key", pub},
		{"sign-dir", m, "--signature", "s"},
		{"sign-dir", m, "--key", key},
		{"sign-dir", m, "--key", key, "--signature", "s", "--hash", "md5"},
		{"sign-dir", m, "--key", key, "--signature", "s", "--shards", "-1"},
	} {
		if _, stderr, code := run(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
	}
}

// TestSignDirVerifyDir: sign-dir then verify-dir round trips, for files and
// shards, sha256 and blake2b (and blake3), a directory and a single file.
func TestSignDirVerifyDir(t *testing.T) {
	key := refTests(t, "keys", "certificate", "signing-key.pem") // unencrypted P-384
	pub := refTests(t, "keys", "certificate", "signing-key-pub.pem")
	for _, tt := range []struct {
		name  string
		flags []string
		file  bool
		how   string
	}{
		{"files sha256", nil, false, "whole files, sha256"},
		{"files blake2b", []string{"--hash", "blake2b"}, false, "whole files, blake2b"},
		{"files blake3", []string{"--hash", "blake3"}, false, "whole files, blake3"},
		{"shards sha256", []string{"--shards", "1000"}, false, "shards of 1000 bytes, sha256"},
		{"shards blake2b", []string{"--shards", "64", "--hash", "blake2b"}, false, "shards of 64 bytes, blake2b"},
		{"single file", nil, true, "whole files, sha256, 1 digest(s)"},
		{"single file shards", []string{"--shards", "1000"}, true, "shards of 1000 bytes, sha256, 5 digest(s)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := model(t)
			sig := filepath.Join(dir, "model.sig")
			path := dir
			if tt.file {
				path = filepath.Join(dir, "model.safetensors")
			}
			args := append([]string{"sign-dir", path, "--key", key, "--signature", sig}, tt.flags...)
			if stdout, stderr, code := run(t, args...); code != exitOK || !strings.Contains(stdout, "Signature  "+sig) {
				t.Fatalf("sign-dir: exit %d\n%s%s", code, stdout, stderr)
			}
			stdout, stderr, code := run(t, "verify-dir", path, "--signature", sig, "--key", pub)
			if code != exitOK || !strings.Contains(stdout, tt.how) {
				t.Fatalf("verify-dir: exit %d\n%s%s\nwant %q", code, stdout, stderr, tt.how)
			}
			if tt.file {
				return
			}
			// An unsigned file fails, unless unsigned files are accepted.
			testutil.WriteTree(t, dir, map[string]string{"sub/new.md": "new"})
			if _, stderr, code := run(t, "verify-dir", path, "--signature", sig, "--key", pub); code != exitVerification || !strings.Contains(stderr, "sub/new.md") {
				t.Fatalf("unsigned file: exit %d, %s", code, stderr)
			}
			if _, stderr, code := run(t, "verify-dir", path, "--signature", sig, "--key", pub, "--ignore-unsigned-files"); code != exitOK {
				t.Fatalf("--ignore-unsigned-files: exit %d, %s", code, stderr)
			}
			if _, stderr, code := run(t, "verify-dir", path, "--signature", sig, "--key", pub, "--ignore-paths", "sub/new.md"); code != exitOK {
				t.Fatalf("--ignore-paths: exit %d, %s", code, stderr)
			}
			// A missing file and a changed byte fail.
			if err := os.Remove(filepath.Join(dir, "sub/new.md")); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, "sub/notes.md")); err != nil {
				t.Fatal(err)
			}
			if _, stderr, code := run(t, "verify-dir", path, "--signature", sig, "--key", pub); code != exitVerification || !strings.Contains(stderr, "missing (sub/notes.md)") {
				t.Fatalf("missing file: exit %d, %s", code, stderr)
			}
			testutil.WriteTree(t, dir, map[string]string{"sub/notes.md": "notes", "config.json": `{"model_type":"gpt3"}`})
			if _, stderr, code := run(t, "verify-dir", path, "--signature", sig, "--key", pub); code != exitVerification || !strings.Contains(stderr, "changed (config.json") {
				t.Fatalf("changed file: exit %d, %s", code, stderr)
			}
		})
	}
}

func TestDirSymlinksAndJSON(t *testing.T) {
	key := refTests(t, "keys", "certificate", "signing-key.pem")
	pub := refTests(t, "keys", "certificate", "signing-key-pub.pem")
	dir := model(t)
	sig := filepath.Join(t.TempDir(), "model.sig") // outside the model
	if err := os.Symlink("config.json", filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "sign-dir", dir, "--key", key, "--signature", sig); code != exitError || !strings.Contains(stderr, "symbolic link") {
		t.Fatalf("sign-dir with a link: exit %d, %s", code, stderr)
	}
	if _, stderr, code := run(t, "sign-dir", dir, "--key", key, "--signature", sig, "--allow-symlinks"); code != exitOK {
		t.Fatalf("sign-dir --allow-symlinks: exit %d, %s", code, stderr)
	}
	stdout, stderr, code := run(t, "verify-dir", dir, "--signature", sig, "--key", pub, "-o", "json")
	if code != exitOK {
		t.Fatalf("verify-dir: exit %d, %s", code, stderr)
	}
	var res struct {
		Path string `json:"path"`
		oms.Result
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if res.Path != dir || res.Method != "key" || res.Signer != pub || res.Files != 4 || !res.Serialization.AllowSymlinks ||
		!strings.HasPrefix(res.RootDigest, "sha256:") || res.PredicateType != oms.PredicateType {
		t.Fatalf("json = %s", stdout)
	}
	// A link the signature does not cover is refused.
	if err := os.Symlink("sub", filepath.Join(dir, "sublink")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "verify-dir", dir, "--signature", sig, "--key", pub); code != exitVerification || !strings.Contains(stderr, "sublink") {
		t.Fatalf("new link: exit %d, %s", code, stderr)
	}
}

// TestSignDirEncryptedKey: a cosign key, its password from the environment
// (not parallel: it sets environment variables).
func TestSignDirEncryptedKey(t *testing.T) {
	priv, pubPEM, err := attest.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	key, pub := filepath.Join(keys, "cosign.key"), filepath.Join(keys, "cosign.pub")
	if err := os.WriteFile(key, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COSIGN_PASSWORD", "pw")
	dir := model(t)
	sig := filepath.Join(dir, "model.sig")
	if _, stderr, code := run(t, "sign-dir", dir, "--key", key, "--signature", sig); code != exitOK {
		t.Fatalf("sign-dir: exit %d, %s", code, stderr)
	}
	// --ignore-paths relative to the working directory, as model_signing
	// takes it, from the model's parent.
	t.Chdir(filepath.Dir(dir))
	testutil.WriteTree(t, dir, map[string]string{"cache/x": "x"})
	rel := filepath.Join(filepath.Base(dir), "cache")
	if stdout, stderr, code := run(t, "verify-dir", filepath.Base(dir), "--signature", sig, "--key", pub, "--ignore-paths", rel); code != exitOK {
		t.Fatalf("verify-dir: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Setenv("COSIGN_PASSWORD", "wrong")
	if _, _, code := run(t, "sign-dir", dir, "--key", key, "--signature", sig); code != exitError {
		t.Fatalf("wrong password: exit %d", code)
	}
}
