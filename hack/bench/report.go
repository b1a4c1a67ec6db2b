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

func printReport(w io.Writer, opts options, tools []tool, m model, results map[resultKey][]sample, workNote string) {
	fmt.Fprintf(w, "\n## vessel vs oras: %s model, %d files, %d run(s), medians\n\n", formatSize(m.size), len(m.files), opts.runs)
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
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %.0f | %.0f | %s |\n",
				op, t.name, med.Seconds(), mibPerSec(m.size, med), float64(peak)/(1<<20), strings.Join(runs, ", "))
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "- push: to a new repository per run; re-push: the unchanged directory to the first run's repository; pull: into a new, empty directory.")
	fmt.Fprintln(w, "- MiB/s is model size / median wall time (for re-push: logical throughput, the blobs already exist).")
	fmt.Fprintln(w, "- peak RSS is the largest ru_maxrss of the tool process over the runs. Data is warm in the page cache.")
	fmt.Fprintln(w, "- each tool runs with its default concurrency and its progress output off or redirected to a log file.")
	fmt.Fprintf(w, "- registry: CNCF Distribution, filesystem storage on %s, plain HTTP on 127.0.0.1.\n", workNote)
	for _, t := range tools {
		fmt.Fprintf(w, "- %s: %s (%s)\n", t.name, t.version, t.bin)
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s RAM, Linux %s; %s; %s\n",
		runtime.NumCPU(), cpuModel(), memTotal(), kernel(), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
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
