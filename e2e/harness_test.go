//go:build e2e

// Package e2e drives the vessel binary against real registry processes:
// CNCF Distribution (no referrers API) and vessel's own embedded server
// (olareg, with the referrers API), alongside the oras and cosign CLIs for
// interoperability checks.
//
// Run from the repository root:
//
//	hack/install-tools.sh all    # once: oras, registry, cosign, fulcio, tsa into .bin/
//	go test -tags e2e ./e2e/...
//
// This file is the shared harness: TestMain builds ./cmd/vessel once, and
// helpers start registries, run commands with an isolated HOME, and compare
// directory trees. It uses only the standard library (sigstore_test.go,
// the private Sigstore for keyless tests, uses sigstore-go and go-jose).
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Paths set by TestMain. cosignBin is empty when .bin/cosign was not built;
// tests that need it call requireCosign.
var (
	repoRoot          string
	vesselBin         string
	vesselRegistryBin string
	orasBin           string
	registryBin       string
	cosignBin         string // cosign v2, as older pipelines run it
	cosign3Bin        string // cosign v3, the release most people run
)

const (
	// defaultCmdTimeout bounds every command run by runVessel/runTool.
	defaultCmdTimeout = 2 * time.Minute
	// readyTimeout bounds how long a registry may take to answer /v2/.
	readyTimeout = 10 * time.Second
	// stopTimeout is how long a server gets to exit after an interrupt
	// before it is killed.
	stopTimeout = 5 * time.Second

	// vesselBinEnv names a prebuilt vessel binary to use instead of building
	// ./cmd/vessel (for example a release build or one built with -cover).
	vesselBinEnv = "VESSEL_E2E_BIN"
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
		return 1
	}

	var err error
	repoRoot, err = findRepoRoot()
	if err != nil {
		return fail("%v", err)
	}

	// Required tools: never skip when one is missing, so that a CI run
	// without them fails loudly instead of passing vacuously.
	for _, tool := range []struct {
		name string
		dst  *string
	}{{"oras", &orasBin}, {"registry", &registryBin}} {
		*tool.dst, err = toolPath(tool.name)
		if err != nil {
			return fail("%v", err)
		}
	}
	// cosign is optional here (a cold build takes minutes); requireCosign
	// fails the tests that need it.
	for _, tool := range []struct {
		name string
		dst  *string
	}{{"cosign", &cosignBin}, {"cosign3", &cosign3Bin}} {
		*tool.dst, err = toolPath(tool.name)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return fail("%v", err) // present but stale or unusable
			}
			*tool.dst = ""
		}
	}

	tmp, err := os.MkdirTemp("", "vessel-e2e-")
	if err != nil {
		return fail("create temp dir for the vessel binary: %v", err)
	}
	defer os.RemoveAll(tmp)

	if bin := os.Getenv(vesselBinEnv); bin != "" {
		if vesselBin, err = filepath.Abs(bin); err != nil {
			return fail("%s=%q: %v", vesselBinEnv, bin, err)
		}
		if _, err := os.Stat(vesselBin); err != nil {
			return fail("%s=%q: %v", vesselBinEnv, bin, err)
		}
	} else {
		vesselBin = filepath.Join(tmp, "vessel"+exeSuffix())
		if err := goBuild("./cmd/vessel", vesselBin); err != nil {
			return fail("%v", err)
		}
	}
	vesselRegistryBin = filepath.Join(tmp, "vessel-registry"+exeSuffix())
	if err := goBuild("./cmd/vessel-registry", vesselRegistryBin); err != nil {
		return fail("%v", err)
	}
	return m.Run()
}

// findRepoRoot walks up from the working directory (the e2e package
// directory under go test) to the directory holding go.mod.
func findRepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("find repo root: no go.mod in %s or any parent", wd)
		}
	}
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// toolPath returns the path of <repo>/.bin/<name>. The error wraps
// fs.ErrNotExist when the binary is missing; it is also an error when the
// binary is stale, i.e. hack/install-tools.sh's stamp no longer matches the
// pin in hack/tools/<name>/go.mod and go.sum.
func toolPath(name string) (string, error) {
	fix := "run hack/install-tools.sh " + name + " from " + repoRoot
	bin := filepath.Join(repoRoot, ".bin", name+exeSuffix())
	fi, err := os.Stat(bin)
	if err != nil {
		return "", fmt.Errorf("tool %s: %w; %s", name, err, fix)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("tool %s: %s is not an executable file; %s", name, bin, fix)
	}

	// The stamp is "<version> <sha256 of go.mod followed by go.sum>", as
	// written by hack/install-tools.sh.
	stamp, err := os.ReadFile(filepath.Join(repoRoot, ".bin", "."+name+".version"))
	if err != nil {
		return "", fmt.Errorf("tool %s: read build stamp: %v; %s", name, err, fix)
	}
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "hack", "tools", name, f))
		if err != nil {
			return "", fmt.Errorf("tool %s: read pin: %v", name, err)
		}
		h.Write(b)
	}
	fields := strings.Fields(string(stamp))
	if len(fields) != 2 || fields[1] != hex.EncodeToString(h.Sum(nil)) {
		return "", fmt.Errorf("tool %s: %s is stale (built from another pin than hack/tools/%s); %s", name, bin, name, fix)
	}
	return bin, nil
}

// goBuild builds the command package pkg into dst with the go command that
// runs the tests (go test puts its own GOROOT/bin first in PATH), with
// extra build flags.
func goBuild(pkg, dst string, flags ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build", "-o", dst}, flags...), pkg)...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build -o %s %s in %s: %v\n%s", dst, pkg, repoRoot, err, out)
	}
	return nil
}

// requireCosign fails (never skips) the test when .bin/cosign (v2) or
// .bin/cosign3 is missing.
func requireCosign(t testing.TB) {
	t.Helper()
	if cosignBin == "" || cosign3Bin == "" {
		t.Fatalf("this test needs cosign v2 and v3: run hack/install-tools.sh cosign cosign3 (or all) from %s", repoRoot)
	}
}

// ---------------------------------------------------------------------------
// Registries

// Registry is a registry process started for one test.
type Registry struct {
	// Kind is "distribution", "vessel-registry" or "vessel-registry-no-referrers",
	// for messages.
	Kind string
	// Host is "127.0.0.1:PORT", to build references like Host+"/repo:tag".
	Host string
	// Root is the storage directory on disk.
	Root string
	// ReferrersAPI reports whether GET /v2/<repo>/referrers/<digest> is
	// served; clients must fall back to the referrers tag schema otherwise.
	ReferrersAPI bool

	// perRepoBlobs is true for the OCI-layout-per-repository store of
	// vessel-registry and false for Distribution's global blob store.
	perRepoBlobs bool

	// proc is the registry process; config, Distribution's config file
	// (to start it again on the same address and storage).
	proc   *process
	config string
}

// crash kills the registry process outright, as a crash or an OOM kill
// would, and waits for it to be gone.
func (r *Registry) crash(t testing.TB) {
	t.Helper()
	if err := r.proc.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", r.Kind, err)
	}
	<-r.proc.exited
}

// restart starts Distribution again, on the same address with the same
// storage, after crash.
func (r *Registry) restart(t testing.TB) {
	t.Helper()
	if r.config == "" {
		t.Fatalf("restart %s: only Distribution restarts", r.Kind)
	}
	p, err := startProcess(t, "distribution", registryBin, []string{"serve", r.config}, []string{"OTEL_TRACES_EXPORTER=none"})
	if err != nil {
		t.Fatalf("restart distribution: %v", err)
	}
	if err := waitV2(p, r.Host); err != nil {
		t.Fatalf("restart distribution: %v", err)
	}
	r.proc = p
}

// Ref returns Host + "/" + repoAndRef, e.g. r.Ref("models/llama:v1").
func (r *Registry) Ref(repoAndRef string) string {
	return r.Host + "/" + repoAndRef
}

// URL returns the plain-HTTP URL of an API path, e.g. r.URL("/v2/").
func (r *Registry) URL(path string) string {
	return "http://" + r.Host + path
}

var sha256HexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// BlobPath returns the file holding blob digest ("sha256:<hex>") of
// repository repo on disk, so a test can corrupt or delete it. Both stores
// serve blob bytes straight from this file.
//
//   - Distribution (filesystem driver, verified against v3.1.2
//     registry/storage/paths.go): one global content-addressed store,
//     <Root>/docker/registry/v2/blobs/sha256/<first 2 hex>/<hex>/data;
//     repo is ignored (repositories only hold links to it).
//   - vessel-registry (olareg v0.2.2 directory store, internal/store/dir.go):
//     one OCI layout per repository, <Root>/<repo>/blobs/sha256/<hex>, next
//     to <Root>/<repo>/index.json and oci-layout.
//
// It panics on a malformed digest: that is a bug in the test.
func (r *Registry) BlobPath(repo, digest string) string {
	alg, enc, ok := strings.Cut(digest, ":")
	if !ok || alg != "sha256" || !sha256HexRE.MatchString(enc) {
		panic(fmt.Sprintf("BlobPath(%q, %q): want a sha256:<64 lowercase hex> digest", repo, digest))
	}
	if r.perRepoBlobs {
		return filepath.Join(r.Root, filepath.FromSlash(repo), "blobs", alg, enc)
	}
	return filepath.Join(r.Root, "docker", "registry", "v2", "blobs", alg, enc[:2], enc, "data")
}

// distributionConfig is the config of a throwaway Distribution registry:
// filesystem storage, deletes allowed, no auth, quiet logs, no redirects to
// the storage backend and no storage health checks.
const distributionConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  redirect:
    disable: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  # A fixed secret avoids a warning about a generated one.
  secret: vessel-e2e-not-a-secret
health:
  storagedriver:
    enabled: false
`

// startDistribution starts a CNCF Distribution registry on a free port with
// storage under a temporary directory and stops it when the test ends.
func startDistribution(t testing.TB) *Registry {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "storage")
	config := filepath.Join(dir, "config.yml")

	// The port is picked before the registry binds it, so another process
	// can take it in between; retry on that one error.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		host := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		if err := os.WriteFile(config, fmt.Appendf(nil, distributionConfig, root, host), 0o644); err != nil {
			t.Fatalf("start distribution: write %s: %v", config, err)
		}
		p, err := startProcess(t, "distribution", registryBin, []string{"serve", config},
			// Without this its OpenTelemetry exporter keeps trying to reach
			// a collector on localhost. (The user's REGISTRY_* variables,
			// which Distribution reads as config overrides, are already
			// dropped by testEnv.)
			[]string{"OTEL_TRACES_EXPORTER=none"})
		if err != nil {
			t.Fatalf("start distribution: %v", err)
		}
		err = waitV2(p, host)
		if err == nil {
			return &Registry{Kind: "distribution", Host: host, Root: root, ReferrersAPI: false, proc: p, config: config}
		}
		p.stop(t)
		lastErr = err
		if !strings.Contains(p.output(), "address already in use") {
			break
		}
	}
	t.Fatalf("start distribution: %v", lastErr)
	return nil
}

// startVesselRegistry starts vessel-registry (the embedded olareg registry, with
// the referrers API) on a port it picks itself, storing under a temporary
// directory, and stops it when the test ends.
func startVesselRegistry(t testing.TB) *Registry {
	t.Helper()
	return startVesselRegistryProcess(t, false)
}

// startVesselRegistryNoReferrers is startVesselRegistry with the referrers API
// turned off, to test the referrers tag schema fallback against an OCI
// layout store.
func startVesselRegistryNoReferrers(t testing.TB) *Registry {
	t.Helper()
	return startVesselRegistryProcess(t, true)
}

// listeningRE matches the one line vessel-registry prints when it is ready.
var listeningRE = regexp.MustCompile(`^listening on (127\.0\.0\.1:[0-9]+)$`)

func startVesselRegistryProcess(t testing.TB, disableReferrers bool) *Registry {
	t.Helper()
	root := t.TempDir()
	args := []string{"--addr", "127.0.0.1:0", "--root", root}
	if disableReferrers {
		args = append(args, "--disable-referrers")
	}
	p, err := startProcess(t, "vessel-registry", vesselRegistryBin, args, nil)
	if err != nil {
		t.Fatalf("start vessel-registry: %v", err)
	}

	var host string
	select {
	case line := <-p.firstLine:
		m := listeningRE.FindStringSubmatch(line)
		if m == nil {
			p.stop(t)
			t.Fatalf("start vessel-registry: first stdout line is %q, want \"listening on 127.0.0.1:PORT\"\n%s", line, p.output())
		}
		host = m[1]
	case <-p.exited:
		t.Fatalf("start vessel-registry: exited before printing its address: %v\n%s", p.waitErr, p.output())
	case <-time.After(readyTimeout):
		p.stop(t)
		t.Fatalf("start vessel-registry: no \"listening on\" line within %v\n%s", readyTimeout, p.output())
	}
	if err := waitV2(p, host); err != nil {
		p.stop(t)
		t.Fatalf("start vessel-registry: %v", err)
	}
	kind := "vessel-registry"
	if disableReferrers {
		kind = "vessel-registry-no-referrers"
	}
	return &Registry{Kind: kind, Host: host, Root: root, ReferrersAPI: !disableReferrers, perRepoBlobs: true, proc: p}
}

// process is a server started by a test.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer // stdout and stderr interleaved, for failure messages
	// firstLine receives the first complete stdout line.
	firstLine chan string
	// exited is closed once the process has been waited for; waitErr is
	// then set.
	exited  chan struct{}
	waitErr error
	once    sync.Once
}

// startProcess starts bin with args and the isolated test environment plus
// extraEnv, and registers a cleanup that stops it.
func startProcess(t testing.TB, name, bin string, args, extraEnv []string) (*process, error) {
	t.Helper()
	p := &process{
		name:      name,
		out:       &lockedBuffer{},
		firstLine: make(chan string, 1),
		exited:    make(chan struct{}),
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(testEnv(t), extraEnv...)
	p.cmd.Stdout = &lineWatcher{dst: p.out, first: p.firstLine}
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s %s: %w", bin, strings.Join(args, " "), err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s (pid %d) output:\n%s", p.name, p.cmd.Process.Pid, p.output())
		}
	})
	return p, nil
}

// stop interrupts the process, kills it if it has not exited within
// stopTimeout, and waits for it. Safe to call more than once.
func (p *process) stop(t testing.TB) {
	p.once.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		// Interrupt first so servers can shut down cleanly; os.Interrupt is
		// not available on Windows, where Kill is the only option.
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			_ = p.cmd.Process.Kill()
		}
		select {
		case <-p.exited:
		case <-time.After(stopTimeout):
			t.Logf("%s (pid %d) still running %v after interrupt; killing it", p.name, p.cmd.Process.Pid, stopTimeout)
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

func (p *process) output() string {
	return p.out.String()
}

// waitV2 polls GET http://host/v2/ until it answers 200, the process exits,
// or readyTimeout passes.
func waitV2(p *process, host string) error {
	client := &http.Client{Timeout: time.Second}
	url := "http://" + host + "/v2/"
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before %s answered: %v\n%s", p.name, url, p.waitErr, p.output())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: GET %s did not answer 200 within %v: last error: %v\n%s", p.name, url, readyTimeout, lastErr, p.output())
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes (exec copies
// stdout and stderr from separate goroutines) and reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWatcher copies everything to dst and sends the first complete line
// (without its newline) to first. Using a Writer rather than StdoutPipe
// keeps exec.Cmd.Wait free to run concurrently with reading.
type lineWatcher struct {
	dst     io.Writer
	first   chan<- string
	pending []byte
	sent    bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	if !w.sent {
		w.pending = append(w.pending, p...)
		if i := bytes.IndexByte(w.pending, '\n'); i >= 0 {
			w.first <- strings.TrimSuffix(string(w.pending[:i]), "\r")
			w.sent = true
			w.pending = nil
		}
	}
	return w.dst.Write(p)
}

// ---------------------------------------------------------------------------
// Running commands

// cmdOpts are per-command settings for runCmd. The zero value runs in the
// test process's working directory with empty stdin and defaultCmdTimeout.
type cmdOpts struct {
	Dir     string        // working directory
	Stdin   string        // standard input
	Env     []string      // extra KEY=VALUE entries, after the isolated environment
	Timeout time.Duration // <= 0 means defaultCmdTimeout
}

// runVessel runs the vessel binary; see runCmd.
func runVessel(t testing.TB, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return runCmd(t, cmdOpts{}, vesselBin, args...)
}

// runTool runs another binary (orasBin, cosignBin, ...); see runCmd.
func runTool(t testing.TB, bin string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	return runCmd(t, cmdOpts{}, bin, args...)
}

// runCmd runs bin with args in the isolated environment of testEnv and
// returns its output and exit code. A non-zero exit is returned, not
// reported: tests assert on it. Failing to start or running past the timeout
// fails the test.
func runCmd(t testing.TB, opts cmdOpts, bin string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultCmdTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = opts.Dir
	cmd.Env = append(testEnv(t), opts.Env...)
	cmd.Stdin = strings.NewReader(opts.Stdin)
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout = &outBuf
	cmd.Stderr = &errBuf
	// Don't wait forever for output pipes held open by a grandchild.
	cmd.WaitDelay = 5 * time.Second

	line := filepath.Base(bin) + " " + strings.Join(args, " ")
	err := cmd.Run()
	stdout, stderr = outBuf.String(), errBuf.String()
	t.Logf("$ %s\n[exit %d]\nstdout:\n%s\nstderr:\n%s", line, cmd.ProcessState.ExitCode(), stdout, stderr)

	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("%s: timed out after %v", line, timeout)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s: %v", line, err)
	}
	return stdout, stderr, cmd.ProcessState.ExitCode()
}

// homes maps each test to its private HOME, so that commands run by one test
// (e.g. `vessel login` then `vessel push`) share credentials and config while
// tests never see each other's, nor the user's.
var homes sync.Map // testing.TB -> string

// testHome returns the test's private HOME directory, creating it on first
// use. Subtests get their own.
func testHome(t testing.TB) string {
	t.Helper()
	if h, ok := homes.Load(t); ok {
		return h.(string)
	}
	h := t.TempDir()
	for _, d := range []string{".docker", ".config", ".cache"} {
		if err := os.Mkdir(filepath.Join(h, d), 0o700); err != nil {
			t.Fatalf("create test home: %v", err)
		}
	}
	homes.Store(t, h)
	t.Cleanup(func() { homes.Delete(t) })
	return h
}

// isolatedPrefixes are environment variables dropped from child processes
// because they would point tools at the user's credentials, config or
// signing setup, or change a registry's config.
var isolatedPrefixes = []string{
	"HOME=", "USERPROFILE=", "XDG_", "DOCKER_", "REGISTRY_", "ORAS_",
	"COSIGN_", "SIGSTORE_", "TUF_", "VESSEL_", "OTEL_", "GOOGLE_APPLICATION_CREDENTIALS=",
	"AWS_", "AZURE_",
}

// testEnv returns the environment for child processes: the test process's
// environment without isolatedPrefixes, with HOME, DOCKER_CONFIG and the XDG
// directories inside the test's private home, and colours off so that
// output can be compared.
func testEnv(t testing.TB) []string {
	t.Helper()
	home := testHome(t)
	set := []string{
		"HOME=" + home,
		"USERPROFILE=" + home,
		"DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"NO_COLOR=1",
		"TERM=dumb",
	}
	var env []string
	for _, kv := range os.Environ() {
		if !hasAnyPrefix(kv, isolatedPrefixes) && !hasAnyPrefix(kv, set) {
			env = append(env, kv)
		}
	}
	return append(env, set...)
}

// hasAnyPrefix reports whether kv starts with one of prefixes, where a
// prefix "KEY=value" counts as "KEY=".
func hasAnyPrefix(kv string, prefixes []string) bool {
	for _, p := range prefixes {
		if k, _, ok := strings.Cut(p, "="); ok {
			p = k + "="
		}
		if strings.HasPrefix(kv, p) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Files and trees

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeFiles creates dir and, for each slash-separated relative path in
// files, a file with that content (0644, parents created).
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			t.Fatalf("writeFiles: %q is not a local relative path", name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("writeFiles: %v", err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatalf("writeFiles: %v", err)
		}
	}
}

// hashTree returns, for every regular file under dir, its slash-separated
// path relative to dir -> the sha256 hex of its content. A symlink maps to
// "symlink:<target>" so that comparing two trees notices it; directories are
// not listed and other special files fail the test.
func hashTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink:" + target
		case d.Type().IsRegular():
			sum, err := fileSHA256(p)
			if err != nil {
				return err
			}
			out[rel] = sum
		default:
			return fmt.Errorf("%s: special file (%v)", p, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("hashTree %s: %v", dir, err)
	}
	return out
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// assertNoEntries fails the test if dir exists and is not empty, listing
// what is there. A missing dir counts as empty: the usual use is proving
// that a failed pull left neither the destination nor a staging directory.
func assertNoEntries(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatalf("assertNoEntries %s: %v", dir, err)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s: want no entries, found %d: %s", dir, len(names), strings.Join(names, ", "))
	}
}

// treeSnapshot describes every entry under a directory: relative path ->
// kind, permissions and, for files, size, modification time and sha256.
// The directory itself is "." (absent if it did not exist).
type treeSnapshot map[string]string

// snapshotTree records dir for a later assertTreeUnchanged. File mtimes are
// included so that a rewrite with the same bytes is noticed; directory mtimes
// are not, because creating and removing a staging entry inside a directory
// changes its mtime without changing its contents.
func snapshotTree(t testing.TB, dir string) treeSnapshot {
	t.Helper()
	snap := treeSnapshot{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v", fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			sum, err := fileSHA256(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" size=%d mtime=%d sha256=%s", fi.Size(), fi.ModTime().UnixNano(), sum)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		snap[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshotTree %s: %v", dir, err)
	}
	return snap
}

// assertTreeUnchanged fails the test with the differences if dir no longer
// matches before.
func assertTreeUnchanged(t testing.TB, dir string, before treeSnapshot) {
	t.Helper()
	after := snapshotTree(t, dir)
	var diffs []string
	for p, was := range before {
		now, ok := after[p]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("removed %s (was %s)", p, was))
		case now != was:
			diffs = append(diffs, fmt.Sprintf("changed %s: %s -> %s", p, was, now))
		}
	}
	for p, now := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("added %s (%s)", p, now))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Errorf("%s changed:\n  %s", dir, strings.Join(diffs, "\n  "))
	}
}
