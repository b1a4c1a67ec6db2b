//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// rssTarget is the bound on vessel's peak RSS at any model size.
const rssTarget = 64 << 20

// signTarget is the bound on signing an already-pushed model.
const signTarget = 200 * time.Millisecond

// printHeader prints what the numbers below were measured on.
func printHeader(w io.Writer, tools []tool, workNote string) {
	fmt.Fprintln(w, "# vessel bench")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- machine: %d CPUs (%s), %s RAM, Linux %s\n", runtime.NumCPU(), cpuModel(), memTotal(), kernel())
	fmt.Fprintf(w, "- %s; work directory on %s; %s\n", runtime.Version(), workNote, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	for _, t := range tools {
		fmt.Fprintf(w, "- %s: %s (%s)\n", t.name, t.version, t.bin)
		for _, n := range t.notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
}

// printTable prints one (registry, model) session's medians.
func printTable(w io.Writer, reg *registryProc, tools []tool, m model, runs int, results map[resultKey][]sample) {
	fmt.Fprintf(w, "\n## %s: %s model, %d files, %d run(s)\n\n", reg.name, formatSize(m.size), len(m.files), runs)
	fmt.Fprintf(w, "%s, plain HTTP on 127.0.0.1.\n\n", reg.label)
	fmt.Fprintln(w, "| op | tool | median s | MiB/s | peak RSS MiB | runs (s) |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|")
	for _, op := range ops {
		for _, t := range tools {
			samples := results[resultKey{op, t.name}]
			if len(samples) == 0 {
				continue
			}
			med := median(samples)
			var peak int64
			runs := make([]string, len(samples))
			for i, s := range samples {
				peak = max(peak, s.maxRSS)
				runs[i] = fmt.Sprintf("%.2f", s.wall.Seconds())
				if s.note != "" {
					runs[i] += " (" + s.note + ")"
				}
			}
			// Sign and resume do not move the whole model: no throughput.
			rate := "-"
			if moves(op) {
				rate = fmt.Sprintf("%.0f", mibPerSec(m.size, med))
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %s | %.0f | %s |\n",
				op, t.name, med.Seconds(), rate, float64(peak)/(1<<20), strings.Join(runs, ", "))
		}
	}

	fmt.Fprintln(w)
	for _, op := range []string{opSign, opSignPKCS8} {
		if s := results[resultKey{op, "vessel"}]; len(s) > 0 {
			fmt.Fprintf(w, "- vessel %s: median %.3f s, target <= %.1f s: %s\n",
				op, median(s).Seconds(), signTarget.Seconds(), verdict(median(s) <= signTarget))
		}
	}
	if s := results[resultKey{opResume, "vessel"}]; len(s) > 0 {
		full := median(results[resultKey{opPull, "vessel"}])
		fmt.Fprintf(w, "- vessel resume: rerun median %.2f s vs full pull %.2f s (%.0f%%)\n",
			median(s).Seconds(), full.Seconds(), 100*median(s).Seconds()/full.Seconds())
	}
	var peak int64
	for k, s := range results {
		if k.tool == "vessel" && k.op != opSign && k.op != opSignPKCS8 {
			for _, x := range s {
				peak = max(peak, x.maxRSS)
			}
		}
	}
	if peak > 0 {
		fmt.Fprintf(w, "- vessel peak RSS moving the model (push, re-push, pull, copy, resume): %.1f MiB, target <= %d MiB: %s\n",
			float64(peak)/(1<<20), rssTarget>>20, verdict(peak <= rssTarget))
	}
}

// printRSSProof prints vessel's peak memory moving a large sparse model.
func printRSSProof(w io.Writer, reg *registryProc, m model, push, pull sample) {
	fmt.Fprintf(w, "\n## peak RSS: %s sparse model, %d files, vessel, %s, 1 run\n\n", formatSize(m.size), len(m.files), reg.name)
	fmt.Fprintln(w, "| op | tool | s | MiB/s | peak RSS MiB | target <= 64 MiB |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|")
	for _, r := range []struct {
		op string
		s  sample
	}{{opPush, push}, {opPull, pull}} {
		fmt.Fprintf(w, "| %s | vessel | %.2f | %.0f | %.1f | %s |\n",
			r.op, r.s.wall.Seconds(), mibPerSec(m.size, r.s.wall), float64(r.s.maxRSS)/(1<<20), verdict(r.s.maxRSS <= rssTarget))
	}
}

func printNotes(w io.Writer) {
	fmt.Fprintln(w, "\n## How it was measured")
	fmt.Fprintln(w)
	for _, n := range []string{
		"push: to a new repository per run, with an empty vessel digest cache; re-push: the unchanged directory to the first run's repository, with the digest cache the first push left.",
		"pull: into a new, empty directory, with an empty --cache-dir (vessel) per run.",
		"pull + sync: the same pull followed by sync(1), the cost of having the files on disk: vessel fsyncs them before its rename (crash-safe), oras leaves them to the kernel.",
		"pull (64 MiB/s per connection): the same pull through a proxy that sends each TCP connection at most 64 MiB/s, like a distant registry where one stream gets far less than the path carries; vessel fetches each large layer in parallel ranges, oras one stream per layer.",
		"copy: `vessel copy` / `oras cp -r` from the first push's repository to a new repository of the same registry per run.",
		"sign: `vessel sign --key` of the first push, each run adding one signature; with the encrypted key `vessel keygen` writes (its scrypt key derivation costs time and memory on every sign) and with an unencrypted PKCS#8 PEM key (ECDSA P-256 both).",
		"resume: `vessel pull --cache-dir` killed with SIGKILL once about half of the model's bytes were on disk, then the same command rerun; the time is the rerun's.",
		"MiB/s is model size / median wall time (for re-push: logical throughput, the blobs already exist).",
		"peak RSS is the largest ru_maxrss of the tool process over the runs.",
		settleNote(),
		"vessel fsyncs what it pulls before the rename; oras does not.",
		"each tool runs with its default concurrency and its progress output off or redirected to a log file.",
		"sparse model: shards of 4 MiB random data every 256 MiB and holes in between; the registry stores every byte.",
	} {
		fmt.Fprintln(w, "- "+n)
	}
}

// moves reports whether op transfers the whole model.
func moves(op string) bool {
	return op != opSign && op != opSignPKCS8 && op != opResume
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func cpuModel() string {
	return procField("/proc/cpuinfo", "model name")
}

func memTotal() string {
	v := procField("/proc/meminfo", "MemTotal") // "24606052 kB"
	var kb int64
	if _, err := fmt.Sscanf(v, "%d kB", &kb); err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// procField returns the value of the first "key: value" line in a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// fsType names the filesystem holding path (statfs f_type magic numbers).
func fsType(path string) (string, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "", fmt.Errorf("statfs: %w", err)
	}
	names := map[int64]string{
		0x01021994: "tmpfs",
		0xEF53:     "ext4",
		0x58465342: "xfs",
		0x9123683E: "btrfs",
		0x794C7630: "overlayfs",
		0x2FC12FC1: "zfs",
		0x6969:     "nfs",
	}
	if n, ok := names[int64(st.Type)]; ok {
		return n, nil
	}
	return fmt.Sprintf("fs 0x%x", st.Type), nil
}

func settleNote() string {
	n := "before every run (untimed): `sync`, so no run pays for the disk writes another left behind"
	if mayDropCaches() {
		return n + "; then the page cache is dropped and the run's inputs (the model for push; the pushed repository's storage for the rest, and the model too for re-push) and the tool's binary are read back in, so every run starts from the same warm inputs and an otherwise empty cache."
	}
	return n + ". The page cache could not be dropped (not root), so later runs may find it full of earlier runs' data."
}
