// Command bench compares vessel and oras pushing and pulling the same model
// directory to and from a local CNCF Distribution registry (filesystem
// storage), and prints a Markdown table of median wall times, throughput and
// peak memory.
//
//	go run ./hack/bench                      # 1 GiB model, 3 runs, vessel and oras
//	go run ./hack/bench -size 64MiB -runs 1  # quick smoke check
//	go run ./hack/bench -tools oras          # only oras (e.g. while vessel does not build)
//
// It is a bench script, not a test: it asserts nothing about speed. It only
// fails when a tool fails or a pull does not bring back the files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const modulePath = "github.com/vessel-oci/vessel"

type options struct {
	size     int64
	runs     int
	keep     bool
	vessel   string
	oras     string
	registry string
	workdir  string
	tools    []string
}

func main() {
	os.Exit(run())
}

// run returns the exit code so that every deferred cleanup (registry process,
// temporary directories) runs before the process exits, also on Ctrl-C.
func run() int {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore default handling: a second Ctrl-C kills
	// the bench at once instead of waiting for cleanup.
	go func() { <-ctx.Done(); stop() }()

	if err := bench(ctx, opts); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted; cleaned up")
			return 130
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string) (options, error) {
	var opts options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	size := fs.String("size", "1GiB", "total size of the generated model (e.g. 64MiB, 1GiB, 2GB)")
	fs.IntVar(&opts.runs, "runs", 3, "runs per operation and tool; the table shows medians")
	fs.BoolVar(&opts.keep, "keep", false, "keep the temporary directories (model, registry storage, logs)")
	fs.StringVar(&opts.vessel, "vessel", "", "vessel binary (default: build ./cmd/vessel into the work directory)")
	fs.StringVar(&opts.oras, "oras", "", "oras binary (default <repo>/.bin/oras)")
	fs.StringVar(&opts.registry, "registry", "", "CNCF Distribution binary (default <repo>/.bin/registry)")
	fs.StringVar(&opts.workdir, "workdir", "", "parent of the temporary work directory (default $TMPDIR, or the repository if $TMPDIR is tmpfs)")
	tools := fs.String("tools", "vessel,oras", "comma-separated tools to compare (vessel, oras)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./hack/bench [flags]\n\nCompares vessel and oras against a local CNCF Distribution registry.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if opts.size, err = parseSize(*size); err != nil {
		return opts, fmt.Errorf("-size: %w", err)
	}
	if opts.size < 1<<20 {
		return opts, fmt.Errorf("-size %s: need at least 1MiB", *size)
	}
	if opts.runs < 1 {
		return opts, fmt.Errorf("-runs %d: need at least 1", opts.runs)
	}
	// Binaries may run with another working directory (oras push runs inside
	// the model directory), so relative paths are made absolute now.
	for _, p := range []*string{&opts.vessel, &opts.oras, &opts.registry, &opts.workdir} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return opts, err
			}
		}
	}
	for _, t := range strings.Split(*tools, ",") {
		t = strings.TrimSpace(t)
		if t != "vessel" && t != "oras" {
			return opts, fmt.Errorf("-tools: unknown tool %q (want vessel, oras)", t)
		}
		opts.tools = append(opts.tools, t)
	}
	return opts, nil
}

func bench(ctx context.Context, opts options) error {
	repoRoot, err := findRepoRoot()
	if err != nil {
		return err
	}
	parent, note, err := workParent(opts.workdir, repoRoot)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(parent, "vessel-bench-")
	if err != nil {
		return fmt.Errorf("create work directory in %s: %w", parent, err)
	}
	defer func() {
		if opts.keep {
			fmt.Fprintf(os.Stderr, "bench: kept work directory %s\n", work)
			return
		}
		if err := os.RemoveAll(work); err != nil {
			fmt.Fprintf(os.Stderr, "bench: remove work directory %s: %v\n", work, err)
		}
	}()
	logf("work directory %s (%s)", work, note)

	// Check every binary before spending time generating the model.
	regBin := opts.registry
	if regBin == "" {
		regBin = filepath.Join(repoRoot, ".bin", "registry")
	}
	if err := checkExecutable(regBin, "hack/install-tools.sh builds it"); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	tools, err := setupTools(ctx, opts, repoRoot, work)
	if err != nil {
		return err
	}

	modelDir := filepath.Join(work, "model")
	logf("generating a %s model in %s", formatSize(opts.size), modelDir)
	start := time.Now()
	m, err := generateModel(ctx, modelDir, filepath.Join(repoRoot, "hack", "sample-model"), opts.size)
	if err != nil {
		return err
	}
	logf("generated %d files, %s, in %.1fs", len(m.files), formatSize(m.size), time.Since(start).Seconds())

	reg, err := startRegistry(ctx, regBin, filepath.Join(work, "distribution"))
	if err != nil {
		return err
	}
	defer reg.stop()
	logf("registry %s listening on %s", regBin, reg.addr)

	results, err := runAll(ctx, opts, tools, reg.addr, m, work)
	if err != nil {
		return err
	}
	printReport(os.Stdout, opts, tools, m, results, note)
	return nil
}

// findRepoRoot walks up from the working directory to the vessel module root,
// so the bench finds .bin/ and hack/sample-model wherever it is started from
// inside the repository.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+modulePath+"\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("find repository root: no go.mod for %s above %s", modulePath, dir)
		}
	}
}

// workParent picks where the generated model and the registry storage go.
// They must be on a real disk: on tmpfs both sides would run at memory speed
// and the 1 GiB model would also count twice against RAM.
func workParent(flagDir, repoRoot string) (dir, note string, err error) {
	if flagDir != "" {
		fsName, err := fsType(flagDir)
		if err != nil {
			return "", "", fmt.Errorf("-workdir %s: %w", flagDir, err)
		}
		return flagDir, fsName + ", from -workdir", nil
	}
	tmp := os.TempDir()
	fsName, err := fsType(tmp)
	if err != nil {
		return "", "", fmt.Errorf("temporary directory %s: %w", tmp, err)
	}
	if fsName != "tmpfs" {
		return tmp, fsName, nil
	}
	fsName, err = fsType(repoRoot)
	if err != nil {
		return "", "", fmt.Errorf("repository %s: %w", repoRoot, err)
	}
	return repoRoot, fsName + ", in the repository because " + tmp + " is tmpfs", nil
}

func checkExecutable(path, hint string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w (%s)", path, err, hint)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: not an executable file", path)
	}
	return nil
}

// newCmd builds a child command that is stopped with SIGTERM (then SIGKILL
// after a grace period) when ctx is cancelled, e.g. on Ctrl-C.
func newCmd(ctx context.Context, out io.Writer, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdout = out
	cmd.Stderr = out
	return cmd
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
