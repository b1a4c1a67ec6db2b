package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Operations, in the order they run and are reported.
const (
	opPush   = "push"    // to a fresh repository: every blob is uploaded
	opRepush = "re-push" // same directory, same repository: blobs exist already
	opPull   = "pull"    // into a fresh, empty destination
)

var ops = []string{opPush, opRepush, opPull}

type tool struct {
	name    string
	bin     string
	version string
	push    func(ctx context.Context, m model, ref string, out io.Writer) *exec.Cmd
	pull    func(ctx context.Context, ref, dest string, out io.Writer) *exec.Cmd
}

type sample struct {
	wall   time.Duration
	maxRSS int64 // bytes
}

type resultKey struct{ op, tool string }

func setupTools(ctx context.Context, opts options, repoRoot, work string) ([]tool, error) {
	var tools []tool
	for _, name := range opts.tools {
		var t tool
		var err error
		switch name {
		case "vessel":
			t, err = vesselTool(ctx, opts.vessel, repoRoot, work)
		case "oras":
			t, err = orasTool(ctx, opts.oras, repoRoot)
		}
		if err != nil {
			return nil, err
		}
		logf("%s: %s (%s)", t.name, t.bin, t.version)
		tools = append(tools, t)
	}
	return tools, nil
}

func vesselTool(ctx context.Context, bin, repoRoot, work string) (tool, error) {
	if bin == "" {
		bin = filepath.Join(work, "bin", "vessel")
		logf("building ./cmd/vessel")
		cmd := newCmd(ctx, os.Stderr, "go", "build", "-o", bin, "./cmd/vessel")
		cmd.Dir = repoRoot
		if err := cmd.Run(); err != nil {
			return tool{}, fmt.Errorf("vessel: go build ./cmd/vessel in %s: %w (pass -vessel PATH, or -tools oras to bench oras alone)", repoRoot, err)
		}
	} else if err := checkExecutable(bin, "pass a built vessel binary"); err != nil {
		return tool{}, fmt.Errorf("vessel: %w", err)
	}

	// Once pull refuses unsigned models by default, the bench must opt out:
	// it measures transfer, and the generated model is unsigned.
	var pullFlags []string
	help, _ := exec.CommandContext(ctx, bin, "pull", "--help").CombinedOutput()
	if bytes.Contains(help, []byte("--insecure-skip-verify")) {
		pullFlags = append(pullFlags, "--insecure-skip-verify")
	}

	return tool{
		name:    "vessel",
		bin:     bin,
		version: firstLine(ctx, bin, "--version"),
		push: func(ctx context.Context, m model, ref string, out io.Writer) *exec.Cmd {
			return newCmd(ctx, out, bin, "push", m.dir, ref, "--quiet")
		},
		pull: func(ctx context.Context, ref, dest string, out io.Writer) *exec.Cmd {
			args := append([]string{"pull", ref, dest, "--quiet"}, pullFlags...)
			return newCmd(ctx, out, bin, args...)
		},
	}, nil
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
		push: func(ctx context.Context, m model, ref string, out io.Writer) *exec.Cmd {
			args := append([]string{"push", "--plain-http", ref}, m.files...)
			cmd := newCmd(ctx, out, bin, args...)
			cmd.Dir = m.dir
			return cmd
		},
		pull: func(ctx context.Context, ref, dest string, out io.Writer) *exec.Cmd {
			return newCmd(ctx, out, bin, "pull", "--plain-http", "-o", dest, ref)
		},
	}, nil
}

// runAll runs every operation opts.runs times per tool, alternating tools
// within a round so both see the same page-cache and disk conditions.
func runAll(ctx context.Context, opts options, tools []tool, host string, m model, work string) (map[resultKey][]sample, error) {
	logs := filepath.Join(work, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	results := map[resultKey][]sample{}
	for _, op := range ops {
		for run := 1; run <= opts.runs; run++ {
			for _, t := range tools {
				s, err := runOnce(ctx, op, run, t, host, m, work, logs)
				if err != nil {
					return nil, err
				}
				logf("%-7s %-6s run %d/%d: %6.2fs  %7.1f MiB/s  RSS %6.1f MiB",
					op, t.name, run, opts.runs, s.wall.Seconds(), mibPerSec(m.size, s.wall), float64(s.maxRSS)/(1<<20))
				k := resultKey{op, t.name}
				results[k] = append(results[k], s)
			}
		}
	}
	return results, nil
}

func runOnce(ctx context.Context, op string, run int, t tool, host string, m model, work, logs string) (sample, error) {
	logPath := filepath.Join(logs, fmt.Sprintf("%s-%s-%d.log", op, t.name, run))
	out, err := os.Create(logPath)
	if err != nil {
		return sample{}, fmt.Errorf("%s %s run %d: %w", op, t.name, run, err)
	}
	defer out.Close()

	// A distinct repository per push run, so nothing is "already there" for
	// the registry's repository-scoped blob checks; re-push and pull reuse
	// the repository of the first push.
	ref := fmt.Sprintf("%s/bench/%s-%d:v1", host, t.name, run)
	firstRef := fmt.Sprintf("%s/bench/%s-1:v1", host, t.name)
	dest := filepath.Join(work, "pull-"+t.name)

	var cmd *exec.Cmd
	switch op {
	case opPush:
		cmd = t.push(ctx, m, ref, out)
	case opRepush:
		cmd = t.push(ctx, m, firstRef, out)
	case opPull:
		if err := os.RemoveAll(dest); err != nil {
			return sample{}, fmt.Errorf("pull %s run %d: clear %s: %w", t.name, run, dest, err)
		}
		cmd = t.pull(ctx, firstRef, dest, out)
	}

	s, err := measure(cmd)
	if err != nil {
		if ctx.Err() != nil {
			return sample{}, ctx.Err()
		}
		return sample{}, fmt.Errorf("%s %s run %d: %s: %w; output (%s):\n%s",
			op, t.name, run, strings.Join(cmd.Args, " "), err, logPath, tail(logPath, 20))
	}

	if op == opPull {
		if err := samePulled(m, dest); err != nil {
			return sample{}, fmt.Errorf("pull %s run %d: %w", t.name, run, err)
		}
		if err := os.RemoveAll(dest); err != nil {
			return sample{}, fmt.Errorf("pull %s run %d: remove %s: %w", t.name, run, dest, err)
		}
	}
	return s, nil
}

// measure runs cmd and reports its wall time and peak resident set size.
func measure(cmd *exec.Cmd) (sample, error) {
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, err
	}
	s := sample{wall: wall}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.maxRSS = ru.Maxrss * 1024 // KiB on Linux
	}
	return s, nil
}

// samePulled checks that a pull brought back exactly the source's files with
// their sizes. Both tools verify digests themselves; this catches a pull that
// "succeeds" without writing what we expect.
func samePulled(src model, dest string) error {
	got, err := scanModel(dest)
	if err != nil {
		return err
	}
	if !slices.Equal(got.files, src.files) || got.size != src.size {
		return fmt.Errorf("pulled %s holds %d files, %d bytes %v; want %d files, %d bytes %v",
			dest, len(got.files), got.size, got.files, len(src.files), src.size, src.files)
	}
	return nil
}

func median(samples []sample) time.Duration {
	d := make([]time.Duration, len(samples))
	for i, s := range samples {
		d[i] = s.wall
	}
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

func mibPerSec(size int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(size) / (1 << 20) / d.Seconds()
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

// tail returns the last n lines of a log file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
