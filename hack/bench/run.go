//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// Operations, in the order they run and are reported.
const (
	opPush   = "push"    // to a fresh repository: every blob is uploaded
	opRepush = "re-push" // same directory, same repository: blobs exist already
	opPull   = "pull"    // into a fresh, empty destination with an empty cache
	opCopy   = "copy"    // repository to a fresh repository of the same registry
	opResume = "resume"  // rerun of a pull killed half-way (vessel only)
	// A pull through a proxy that gives each connection linkRate bytes/s.
	opPullLink = "pull (64 MiB/s per connection)"
	// A pull followed by sync(1): what it costs to have the files on disk
	// (vessel fsyncs before its rename; oras leaves it to the kernel).
	opPullSync = "pull + sync"
	// Sign the pushed model (vessel only), with an encrypted key as `vessel
	// keygen` makes (scrypt) and with an unencrypted PKCS#8 key.
	opSign      = "sign (encrypted key)"
	opSignPKCS8 = "sign (PKCS#8 key)"
)

var ops = []string{opPush, opRepush, opPull, opPullSync, opPullLink, opCopy, opResume, opSign, opSignPKCS8}

type sample struct {
	wall   time.Duration
	maxRSS int64  // bytes
	note   string // shown next to the run's time
}

type resultKey struct{ op, tool string }

// session is one (registry, model) combination: everything a run needs.
type session struct {
	reg  *registryProc
	link string // address of a slow-link proxy in front of reg
	m    model
	dir  string // this session's directory; per-run scratch lives below it
	logs string
}

func newSession(reg *registryProc, m model, dir string) (*session, error) {
	s := &session{reg: reg, m: m, dir: dir, logs: filepath.Join(dir, "logs")}
	if err := os.MkdirAll(s.logs, 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	// The proxy lives as long as the bench process.
	link, _, err := startLink(reg.addr)
	if err != nil {
		return nil, fmt.Errorf("slow-link proxy: %w", err)
	}
	s.link = link
	return s, nil
}

// runAll runs every operation runs times per tool, alternating tools within
// a round, and which goes first from round to round, so both see the same
// page-cache and disk conditions.
func (s *session) runAll(ctx context.Context, tools []tool, runs int, only []string) (map[resultKey][]sample, error) {
	results := map[resultKey][]sample{}
	for _, op := range ops {
		if only != nil && !slices.Contains(only, op) {
			continue
		}
		for run := 1; run <= runs; run++ {
			// Who goes first alternates, so neither always follows the
			// other's leftovers (registry caches, disk writeback).
			order := slices.Clone(tools)
			if run%2 == 0 {
				slices.Reverse(order)
			}
			for _, t := range order {
				if !t.supports(op) {
					continue
				}
				smp, err := s.runOnce(ctx, op, run, t)
				if err != nil {
					return nil, err
				}
				logf("%s %s: %-20s %-6s run %d/%d: %6.2fs  RSS %6.1f MiB  %s",
					s.reg.name, formatSize(s.m.size), op, t.name, run, runs,
					smp.wall.Seconds(), float64(smp.maxRSS)/(1<<20), smp.note)
				k := resultKey{op, t.name}
				results[k] = append(results[k], smp)
			}
		}
	}
	return results, nil
}

// ref names a repository of the session's registry.
func (s *session) ref(repo string) string {
	return s.reg.addr + "/" + repo + ":v1"
}

// runOnce runs one operation in a fresh scratch directory (pull destination,
// cache directories), removed afterwards.
//
// A distinct repository per push run, so nothing is "already there" for the
// registry's repository-scoped blob checks; re-push, pull, copy, sign and
// resume use the repository of the first push.
//
// Every vessel command gets its own empty XDG_CACHE_HOME, so no run profits
// from an earlier one (push's digest cache, pull's local store) -- except
// re-push, which gets the first push's cache as a user re-pushing would.
func (s *session) runOnce(ctx context.Context, op string, run int, t tool) (sample, error) {
	slug := strings.Join(strings.FieldsFunc(op, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }), "-")
	name := fmt.Sprintf("%s-%s-%d", slug, t.name, run)
	logPath := filepath.Join(s.logs, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", name, err)
	}
	defer out.Close()
	scratch := filepath.Join(s.dir, "scratch")
	if err := os.RemoveAll(scratch); err != nil {
		return sample{}, fmt.Errorf("%s: clear %s: %w", name, scratch, err)
	}
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return sample{}, fmt.Errorf("%s: %w", name, err)
	}
	defer os.RemoveAll(scratch)

	first := fmt.Sprintf("bench/%s-1", t.name)
	xdg := filepath.Join(scratch, "xdg-cache")
	if (op == opPush && run == 1) || op == opRepush {
		xdg = filepath.Join(s.dir, t.name+"-push-1-xdg-cache")
	}
	dest := filepath.Join(scratch, "pull", "model") // the parent holds only dest and its staging
	cacheDir := filepath.Join(scratch, "store")
	var drop string // repository whose storage is freed after the run

	var cmd *exec.Cmd
	switch op {
	case opPush:
		repo := fmt.Sprintf("bench/%s-%d", t.name, run)
		cmd = t.push(ctx, out, s.m, s.ref(repo))
		if run > 1 {
			drop = repo
		}
	case opRepush:
		cmd = t.push(ctx, out, s.m, s.ref(first))
	case opPull:
		cmd = t.pull(ctx, out, s.ref(first), dest, cacheDir)
	case opPullLink:
		cmd = t.pull(ctx, out, s.link+"/"+first+":v1", dest, cacheDir)
	case opPullSync:
		cmd = thenSync(ctx, t.pull(ctx, out, s.ref(first), dest, cacheDir))
	case opCopy:
		repo := fmt.Sprintf("bench/%s-copy-%d", t.name, run)
		cmd = t.copy(ctx, out, s.ref(first), s.ref(repo))
		drop = repo
	case opSign:
		cmd = t.sign(ctx, out, s.ref(first), t.keys.encrypted)
	case opSignPKCS8:
		cmd = t.sign(ctx, out, s.ref(first), t.keys.pkcs8)
	case opResume:
		cmd = t.pull(ctx, out, s.ref(first), dest, cacheDir)
	}
	for _, d := range []string{xdg, filepath.Dir(dest), cacheDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return sample{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	setEnv(cmd, xdg)
	inputs := []string{s.reg.repoData(first)} // what the registry serves
	switch op {
	case opPush:
		inputs = []string{s.m.dir}
	case opRepush: // the registry answers from the first push's storage
		inputs = append(inputs, s.m.dir)
	}
	settle(append(inputs, t.bin)...)

	var smp sample
	if op == opResume {
		smp, err = resumePull(ctx, cmd, s.m.size, cacheDir, filepath.Dir(dest))
	} else {
		smp, err = measure(cmd)
	}
	if err != nil {
		if ctx.Err() != nil {
			return sample{}, ctx.Err()
		}
		return sample{}, fmt.Errorf("%s on %s: %s: %w; output (%s):\n%s",
			name, s.reg.name, strings.Join(cmd.Args, " "), err, logPath, tail(logPath, 20))
	}
	if op == opPull || op == opPullSync || op == opPullLink || op == opResume {
		if err := samePulled(s.m, dest); err != nil {
			return sample{}, fmt.Errorf("%s on %s: %w", name, s.reg.name, err)
		}
	}
	if drop != "" {
		if err := s.reg.dropRepo(drop); err != nil {
			return sample{}, fmt.Errorf("%s: free %s: %w", name, drop, err)
		}
	}
	return smp, nil
}

// thenSync runs cmd, then sync(1), through sh, with cmd's output.
func thenSync(ctx context.Context, cmd *exec.Cmd) *exec.Cmd {
	args := append([]string{"-c", `"$@" && sync`, "sh", cmd.Path}, cmd.Args[1:]...)
	w := newCmd(ctx, cmd.Stdout, "sh", args...)
	w.Dir = cmd.Dir
	return w
}

// setEnv gives cmd its own user cache directory and the signing key's
// password (vessel reads both; oras neither).
func setEnv(cmd *exec.Cmd, xdgCache string) {
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+xdgCache, "VESSEL_PASSWORD="+benchPassword)
}

// measure runs cmd and reports its wall time and peak resident set size.
func measure(cmd *exec.Cmd) (sample, error) {
	// Flush what earlier runs left dirty (oras does not fsync what it
	// pulls), so no run pays for another's disk writes.
	syscall.Sync()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, err
	}
	return sample{wall: wall, maxRSS: maxRSS(cmd)}, nil
}

func maxRSS(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // KiB on Linux
	}
	return 0
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
