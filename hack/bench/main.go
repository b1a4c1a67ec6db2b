//go:build linux

// Command bench compares vessel and oras pushing, re-pushing, pulling and
// copying the same generated model against local registries (CNCF
// Distribution with filesystem storage, and olareg served by
// vessel-registry), times vessel signing the pushed model and resuming an
// interrupted pull, checks vessel's peak memory on a large sparse model,
// and prints Markdown tables of median wall times, throughput and peak
// memory.
//
//	go run ./hack/bench                                 # 1 GiB and 4 GiB, both registries, 5 runs, 8 GiB RSS check
//	go run ./hack/bench -sizes 64MiB -runs 1 -rss-size 0 -dataset 2000:16KiB -dataset-runs 1 -huge-dataset 0  # quick smoke check
//	go run ./hack/bench -tools oras -registries distribution  # only oras (e.g. while vessel does not build)
//
// It is a bench script, not a test: it asserts nothing about speed. It only
// fails when a tool fails or a pull does not bring back the files. Progress
// goes to stderr, the report to stdout.
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
	"slices"
	"strings"
	"syscall"
	"time"
)

const modulePath = "github.com/vessel-oci/vessel"

type options struct {
	sizes      []int64
	rssSize    int64
	runs       int
	keep       bool
	vessel     string
	oras       string
	registry   string
	workdir    string
	tools      []string
	registries []string
	ops        []string // nil: all
	// dataset: many small files against four large ones and oras;
	// hugeDataset: very many tiny files on tmpfs, vessel alone.
	dataset, hugeDataset datasetSpec
	datasetRuns          int
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
	sizes := fs.String("sizes", "1GiB,4GiB", "comma-separated sizes of the generated models (e.g. 64MiB, 1GiB, 2GB)")
	size := fs.String("size", "", "a single model size; overrides -sizes")
	rssSize := fs.String("rss-size", "8GiB", "size of the sparse model for the vessel peak-RSS check (0 skips it)")
	fs.IntVar(&opts.runs, "runs", 5, "runs per operation and tool; the tables show medians")
	dataset := fs.String("dataset", "100000:16KiB", "FILES:SIZE of the dataset pushed and pulled against the same bytes as four files and oras (0 skips it)")
	fs.IntVar(&opts.datasetRuns, "dataset-runs", 3, "runs of each dataset operation")
	huge := fs.String("huge-dataset", "1000000:64B", "FILES:SIZE of the dataset vessel pushes and pulls once on tmpfs (0 skips it)")
	fs.BoolVar(&opts.keep, "keep", false, "keep the temporary directories (models, registry storage, logs)")
	fs.StringVar(&opts.vessel, "vessel", "", "vessel binary (default: build ./cmd/vessel into the work directory)")
	fs.StringVar(&opts.oras, "oras", "", "oras binary (default <repo>/.bin/oras)")
	fs.StringVar(&opts.registry, "registry", "", "CNCF Distribution binary (default <repo>/.bin/registry)")
	fs.StringVar(&opts.workdir, "workdir", "", "parent of the temporary work directory (default $TMPDIR, or the repository if $TMPDIR is tmpfs)")
	tools := fs.String("tools", "vessel,oras", "comma-separated tools to compare (vessel, oras)")
	registries := fs.String("registries", strings.Join(registryNames, ","), "comma-separated registries to run against (distribution, olareg)")
	only := fs.String("ops", "", "comma-separated operations to run (default all; push always runs, the others use what it pushed): "+strings.Join(ops, ", "))
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./hack/bench [flags]\n\nCompares vessel and oras against local registries.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *size != "" {
		*sizes = *size
	}
	for _, s := range splitList(*sizes) {
		n, err := parseSize(s)
		if err != nil {
			return opts, fmt.Errorf("-sizes: %w", err)
		}
		if n < 1<<20 {
			return opts, fmt.Errorf("-sizes %s: need at least 1MiB", s)
		}
		opts.sizes = append(opts.sizes, n)
	}
	var err error
	if opts.dataset, err = parseDataset(*dataset); err != nil {
		return opts, fmt.Errorf("-dataset: %w", err)
	}
	if opts.hugeDataset, err = parseDataset(*huge); err != nil {
		return opts, fmt.Errorf("-huge-dataset: %w", err)
	}
	if opts.rssSize, err = parseSize(*rssSize); err != nil {
		return opts, fmt.Errorf("-rss-size: %w", err)
	}
	if opts.rssSize != 0 && opts.rssSize < 1<<30 {
		return opts, fmt.Errorf("-rss-size %s: need at least 1GiB, or 0 to skip", *rssSize)
	}
	if *only != "" {
		opts.ops = []string{opPush}
		for _, op := range splitList(*only) {
			if !slices.Contains(ops, op) {
				return opts, fmt.Errorf("-ops: unknown operation %q (have %s)", op, strings.Join(ops, ", "))
			}
			if op != opPush {
				opts.ops = append(opts.ops, op)
			}
		}
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
	for _, t := range splitList(*tools) {
		if t != "vessel" && t != "oras" {
			return opts, fmt.Errorf("-tools: unknown tool %q (want vessel, oras)", t)
		}
		opts.tools = append(opts.tools, t)
	}
	for _, r := range splitList(*registries) {
		if !slices.Contains(registryNames, r) {
			return opts, fmt.Errorf("-registries: unknown registry %q (want %s)", r, strings.Join(registryNames, ", "))
		}
		opts.registries = append(opts.registries, r)
	}
	if len(opts.sizes) == 0 || len(opts.tools) == 0 || len(opts.registries) == 0 {
		return opts, fmt.Errorf("-sizes, -tools and -registries each need at least one entry")
	}
	return opts, nil
}

func splitList(s string) []string {
	var list []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			list = append(list, e)
		}
	}
	return list
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

	// Check every binary before spending time generating a model.
	var bins registryBins
	if slices.Contains(opts.registries, regDistribution) {
		bins.distribution = opts.registry
		if bins.distribution == "" {
			bins.distribution = filepath.Join(repoRoot, ".bin", "registry")
		}
		if err := checkExecutable(bins.distribution, "hack/install-tools.sh builds it"); err != nil {
			return fmt.Errorf("registry: %w", err)
		}
	}
	if slices.Contains(opts.registries, regOlareg) {
		bins.olareg = filepath.Join(work, "bin", "vessel-registry")
		if err := goBuild(ctx, repoRoot, "./cmd/vessel-registry", bins.olareg); err != nil {
			return fmt.Errorf("olareg: %w", err)
		}
	}
	var vessel string
	if slices.Contains(opts.tools, "vessel") {
		if vessel, err = buildVessel(ctx, opts.vessel, repoRoot, work); err != nil {
			return err
		}
	}
	tools, err := setupTools(ctx, opts, vessel, repoRoot, work)
	if err != nil {
		return err
	}
	printHeader(os.Stdout, tools, note)

	sampleDir := filepath.Join(repoRoot, "hack", "sample-model")
	for _, size := range opts.sizes {
		if err := benchSize(ctx, opts, bins, tools, sampleDir, work, size); err != nil {
			return err
		}
	}
	if opts.dataset.files > 0 {
		if err := benchDataset(ctx, opts, bins, tools, sampleDir, work); err != nil {
			return err
		}
	}
	if opts.rssSize > 0 {
		if err := rssProof(ctx, opts, bins, tools, sampleDir, work); err != nil {
			return err
		}
	}
	if err := hugeDataset(ctx, opts, bins, tools); err != nil {
		return err
	}
	printNotes(os.Stdout)
	return nil
}

// benchSize generates one model and runs every operation against every
// registry, each started fresh with empty storage, printing a table per
// registry as soon as it is done.
func benchSize(ctx context.Context, opts options, bins registryBins, tools []tool, sampleDir, work string, size int64) error {
	label := strings.ReplaceAll(formatSize(size), " ", "")
	modelDir := filepath.Join(work, "model-"+label)
	// Roughly: the model, two source repositories and one in-flight copy in
	// olareg (a layout per repository), a pull destination and its cache.
	if free, err := freeBytes(work); err == nil && free < 6*size {
		logf("warning: %s free in %s; a %s model may need up to %s", formatSize(free), work, formatSize(size), formatSize(6*size))
	}
	logf("generating a %s model in %s", formatSize(size), modelDir)
	start := time.Now()
	m, err := generateModel(ctx, modelDir, sampleDir, size, false)
	if err != nil {
		return err
	}
	logf("generated %d files, %s, in %.1fs", len(m.files), formatSize(m.size), time.Since(start).Seconds())
	if !opts.keep {
		defer os.RemoveAll(modelDir)
	}
	// vessel's digest cache ignores files changed in the last 2 s; give the
	// fresh shards that long so the first push fills the cache re-push uses.
	if err := sleep(ctx, 2500*time.Millisecond); err != nil {
		return err
	}

	for _, name := range opts.registries {
		dir := filepath.Join(work, name+"-"+label)
		reg, err := startRegistry(ctx, name, bins, filepath.Join(dir, "registry"))
		if err != nil {
			return err
		}
		logf("%s listening on %s", reg.label, reg.addr)
		s, err := newSession(reg, m, dir)
		if err != nil {
			reg.stop()
			return err
		}
		results, err := s.runAll(ctx, tools, opts.runs, opts.ops)
		reg.stop()
		if err != nil {
			return err
		}
		printTable(os.Stdout, reg, tools, m, opts.runs, results)
		if !opts.keep {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("remove %s: %w", dir, err)
			}
		}
	}
	return nil
}

// rssProof pushes and pulls a large sparse model once with vessel, against
// the first registry, to show its peak memory does not grow with the model.
func rssProof(ctx context.Context, opts options, bins registryBins, tools []tool, sampleDir, work string) error {
	i := slices.IndexFunc(tools, func(t tool) bool { return t.name == "vessel" })
	if i < 0 {
		return nil
	}
	vessel := tools[i]
	// The registry stores every byte, the pull writes every byte, and its
	// local store may hold another copy.
	need := 3 * opts.rssSize
	free, err := freeBytes(work)
	if err != nil {
		return err
	}
	if free < need {
		logf("peak RSS check skipped: %s free in %s, need %s", formatSize(free), work, formatSize(need))
		fmt.Fprintf(os.Stdout, "\n## peak RSS: %s sparse model: skipped, %s free, need %s\n", formatSize(opts.rssSize), formatSize(free), formatSize(need))
		return nil
	}

	dir := filepath.Join(work, "rss")
	logf("generating a %s sparse model", formatSize(opts.rssSize))
	m, err := generateModel(ctx, filepath.Join(dir, "model"), sampleDir, opts.rssSize, true)
	if err != nil {
		return err
	}
	if err := sleep(ctx, 2500*time.Millisecond); err != nil {
		return err
	}
	reg, err := startRegistry(ctx, opts.registries[0], bins, filepath.Join(dir, "registry"))
	if err != nil {
		return err
	}
	defer reg.stop()
	s, err := newSession(reg, m, dir)
	if err != nil {
		return err
	}
	var got [2]sample
	for j, op := range []string{opPush, opPull} {
		logf("peak RSS check: vessel %s of %s on %s", op, formatSize(m.size), reg.name)
		if got[j], err = s.runOnce(ctx, op, 1, vessel); err != nil {
			return err
		}
		logf("peak RSS check: vessel %s: %.2fs, RSS %.1f MiB", op, got[j].wall.Seconds(), float64(got[j].maxRSS)/(1<<20))
	}
	printRSSProof(os.Stdout, reg, m, got[0], got[1])
	return nil
}

func freeBytes(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
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
