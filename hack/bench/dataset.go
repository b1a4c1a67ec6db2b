//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// datasetSpec is a generated dataset: files of size bytes, filesPerDir to
// a directory (an image-folder layout: train/c00000/00000.bin ...).
type datasetSpec struct {
	files int
	size  int64
}

const filesPerDir = 100

// opPullOne is a verified partial pull of one file of the dataset: its
// group's entry alone is fetched, by range.
const (
	opPullOne  = "pull one file"
	oneFile    = "train/c00001/00001.bin"
	oneFileDir = "train/c00001"
)

// The filesystem's share of a push and a pull: tar(1) reading the files
// (through a pipe: GNU tar skips reading what goes to /dev/null), and unpacking them from a local tar file and syncing them, as
// vessel syncs what it pulls; no network, registry or signature. These
// bound from below what any tool can do on the machine's disk.
const (
	opFloorRead   = "read, local"
	opFloorUnpack = "unpack + sync, local"
	floorTool     = "tar"
)

// parseDataset reads "FILES:SIZE" ("100000:16KiB"); "" or "0" is none.
func parseDataset(s string) (datasetSpec, error) {
	if s == "" || s == "0" {
		return datasetSpec{}, nil
	}
	n, size, ok := strings.Cut(s, ":")
	var d datasetSpec
	if _, err := fmt.Sscanf(n, "%d", &d.files); !ok || err != nil || d.files < 1 {
		return d, fmt.Errorf("invalid dataset %q (want FILES:SIZE, e.g. 100000:16KiB)", s)
	}
	var err error
	if d.size, err = parseSize(size); err != nil || d.size < 1 {
		return d, fmt.Errorf("invalid dataset %q (want FILES:SIZE, e.g. 100000:16KiB)", s)
	}
	return d, nil
}

// generateDataset writes spec's files of pseudo-random bytes into dir.
func generateDataset(ctx context.Context, dir string, spec datasetSpec) (model, error) {
	rng := rand.NewChaCha8([32]byte{'d', 'a', 't', 'a'})
	buf := make([]byte, spec.size)
	for i := range spec.files {
		if i%filesPerDir == 0 {
			if err := ctx.Err(); err != nil {
				return model{}, err
			}
			if err := os.MkdirAll(filepath.Join(dir, "train", fmt.Sprintf("c%05d", i/filesPerDir)), 0o755); err != nil {
				return model{}, err
			}
		}
		_, _ = rng.Read(buf)
		p := filepath.Join(dir, "train", fmt.Sprintf("c%05d", i/filesPerDir), fmt.Sprintf("%05d.bin", i%filesPerDir))
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return model{}, err
		}
	}
	return scanModel(dir)
}

// datasetRow is one line of the dataset table.
type datasetRow struct {
	op, tool, what string
	samples        []sample
	size           int64
}

// benchDataset pushes and pulls (verified: signed with a key, pulled
// trusting it) a dataset of many small files with vessel, the same bytes
// as four large files with vessel, and the dataset directory with oras
// (one tar+gzip layer, nothing checked per file), on each registry.
func benchDataset(ctx context.Context, opts options, bins registryBins, tools []tool, sampleDir, work string) error {
	spec := opts.dataset
	dir := filepath.Join(work, "dataset")
	logf("generating a dataset of %d files of %s", spec.files, formatSize(spec.size))
	start := time.Now()
	ds, err := generateDataset(ctx, filepath.Join(dir, "data"), spec)
	if err != nil {
		return fmt.Errorf("generate dataset: %w", err)
	}
	ds.dataset = true
	logf("generated %s in %.1fs", formatSize(ds.size), time.Since(start).Seconds())
	big, err := generateModel(ctx, filepath.Join(dir, "four-files"), sampleDir, ds.size, false)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := sleep(ctx, 2500*time.Millisecond); err != nil {
		return err
	}
	for _, name := range opts.registries {
		rdir := filepath.Join(work, "dataset-"+name)
		reg, err := startRegistry(ctx, name, bins, filepath.Join(rdir, "registry"))
		if err != nil {
			return err
		}
		rows, err := datasetRuns(ctx, reg, tools, ds, big, rdir, opts.datasetRuns)
		reg.stop()
		if err != nil {
			return err
		}
		printDatasetTable(os.Stdout, reg, spec, ds, opts.datasetRuns, rows)
		if err := os.RemoveAll(rdir); err != nil {
			return err
		}
	}
	return nil
}

func datasetRuns(ctx context.Context, reg *registryProc, tools []tool, ds, big model, dir string, runs int) ([]*datasetRow, error) {
	var rows []*datasetRow
	row := func(op, tool, what string, size int64) *datasetRow {
		for _, r := range rows {
			if r.op == op && r.tool == tool && r.what == what {
				return r
			}
		}
		r := &datasetRow{op: op, tool: tool, what: what, size: size}
		rows = append(rows, r)
		return r
	}
	floors, err := floorTars(ctx, dir, ds, big)
	if err != nil {
		return nil, err
	}
	for run := 1; run <= runs; run++ {
		for _, f := range floors {
			for _, op := range []string{opFloorRead, opFloorUnpack} {
				smp, err := floorOnce(ctx, op, f.m, f.tar, filepath.Join(dir, "scratch"))
				if err != nil {
					return nil, fmt.Errorf("tar %s of the %s: %w", op, f.what, err)
				}
				logf("%s dataset: tar %s of the %s, run %d/%d: %.2fs", reg.name, op, f.what, run, runs, smp.wall.Seconds())
				r := row(op, floorTool, f.what, f.m.size)
				r.samples = append(r.samples, smp)
			}
		}
		order := slices.Clone(tools)
		if run%2 == 0 {
			slices.Reverse(order)
		}
		for _, t := range order {
			type benchCase struct {
				what string
				m    model
			}
			cases := []benchCase{{"dataset", ds}}
			if t.name == "vessel" {
				cases = append(cases, benchCase{"four files", big})
			}
			for _, c := range cases {
				repo := fmt.Sprintf("bench/%s-%s-%d", t.name, strings.ReplaceAll(c.what, " ", "-"), run)
				ref := reg.addr + "/" + repo + ":v1"
				ops := []string{opPush, opPull}
				if t.name == "vessel" && c.m.dataset && slices.Contains(c.m.files, oneFile) {
					ops = append(ops, opPullOne)
				}
				for _, op := range ops {
					smp, err := datasetOnce(ctx, op, t, c.m, ref, filepath.Join(dir, "scratch"))
					if err != nil {
						return nil, fmt.Errorf("%s %s of the %s on %s: %w", t.name, op, c.what, reg.name, err)
					}
					logf("%s dataset: %s %s of the %s, run %d/%d: %.2fs, RSS %.1f MiB", reg.name, t.name, op, c.what, run, runs, smp.wall.Seconds(), float64(smp.maxRSS)/(1<<20))
					size := c.m.size
					if op == opPullOne {
						size /= int64(len(c.m.files)) // the files are of one size
					}
					r := row(op, t.name, c.what, size)
					r.samples = append(r.samples, smp)
				}
				if err := reg.dropRepo(repo); err != nil {
					return nil, err
				}
			}
		}
	}
	return rows, nil
}

// floorTar is a local tar file of a bench case, for the floor rows.
type floorTar struct {
	what string
	m    model
	tar  string
}

// floorTars writes the dataset and the four files each to a local tar
// (untimed), or returns none where tar(1) or sync(1) is missing.
func floorTars(ctx context.Context, dir string, ds, big model) ([]floorTar, error) {
	for _, bin := range []string{"tar", "sync", "cat"} {
		if _, err := exec.LookPath(bin); err != nil {
			logf("no %s: the dataset table has no filesystem floor rows", bin)
			return nil, nil
		}
	}
	var out []floorTar
	for _, c := range []struct {
		what string
		m    model
	}{{"dataset", ds}, {"four files", big}} {
		f := floorTar{what: c.what, m: c.m, tar: filepath.Join(dir, strings.ReplaceAll(c.what, " ", "-")+".tar")}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if b, err := newCmd(ctx, nil, "tar", "-cf", f.tar, "-C", c.m.dir, ".").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("tar of the %s: %w: %s", c.what, err, b)
		}
		out = append(out, f)
	}
	return out, nil
}

// floorOnce runs one floor row: tar reading m's files (warm,
// as a push finds them), or unpacking its tar into an empty directory and
// syncing that filesystem (the tar warm, as a pull's bytes come from the
// network, not the disk).
func floorOnce(ctx context.Context, op string, m model, tarFile, scratch string) (sample, error) {
	if err := os.RemoveAll(scratch); err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(scratch)
	dest := filepath.Join(scratch, "data")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return sample{}, err
	}
	var cmd *exec.Cmd
	if op == opFloorRead {
		cmd = newCmd(ctx, io.Discard, "sh", "-c", `tar -cf - -C "$1" . | cat >/dev/null`, "sh", m.dir)
		settle(m.dir)
	} else {
		cmd = newCmd(ctx, io.Discard, "sh", "-c", `tar -xf "$1" -C "$2" && sync -f "$2"`, "sh", tarFile, dest)
		settle(tarFile)
	}
	smp, err := measure(cmd)
	if err != nil {
		return sample{}, err
	}
	if op == opFloorUnpack {
		if err := samePulled(m, dest); err != nil {
			return sample{}, err
		}
	}
	return smp, nil
}

// datasetOnce runs one push or verified pull with empty caches.
func datasetOnce(ctx context.Context, op string, t tool, m model, ref, scratch string) (sample, error) {
	if err := os.RemoveAll(scratch); err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(scratch)
	dest := filepath.Join(scratch, "pull", "data")
	for _, d := range []string{filepath.Join(scratch, "xdg"), filepath.Dir(dest)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return sample{}, err
		}
	}
	var cmd *exec.Cmd
	switch {
	case t.name == "vessel" && op == opPush:
		args := []string{"push", "--quiet", "--key", t.keys.pkcs8}
		if m.dataset {
			args = append(args, "--dataset")
		}
		cmd = newCmd(ctx, io.Discard, t.bin, append(args, m.dir, ref)...)
	case t.name == "vessel" && op == opPullOne:
		cmd = newCmd(ctx, io.Discard, t.bin, "pull", "--quiet", "--key", t.keys.pkcs8Pub, "--cache-dir", filepath.Join(scratch, "store"), "--include", oneFile, ref, dest)
	case t.name == "vessel":
		cmd = newCmd(ctx, io.Discard, t.bin, "pull", "--quiet", "--key", t.keys.pkcs8Pub, "--cache-dir", filepath.Join(scratch, "store"), ref, dest)
	case op == opPush: // oras: the directory, as one tar+gzip layer
		cmd = newCmd(ctx, io.Discard, t.bin, "push", "--plain-http", ref, filepath.Base(m.dir))
		cmd.Dir = filepath.Dir(m.dir)
	default:
		cmd = newCmd(ctx, io.Discard, t.bin, "pull", "--plain-http", "-o", dest, ref)
	}
	setEnv(cmd, filepath.Join(scratch, "xdg"))
	settle(m.dir, t.bin)
	smp, err := measure(cmd)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	if op == opPullOne {
		got, err := os.ReadDir(filepath.Join(dest, filepath.FromSlash(oneFileDir)))
		if err != nil || len(got) != 1 || got[0].Name() != filepath.Base(oneFile) {
			return sample{}, fmt.Errorf("pull of %s wrote %v (%v)", oneFile, got, err)
		}
	}
	if op == opPull {
		got := dest
		if t.name == "oras" {
			got = filepath.Join(dest, filepath.Base(m.dir))
		}
		if err := samePulled(m, got); err != nil {
			return sample{}, err
		}
	}
	return smp, nil
}

func printDatasetTable(w io.Writer, reg *registryProc, spec datasetSpec, ds model, runs int, rows []*datasetRow) {
	fmt.Fprintf(w, "\n## %s: dataset of %d files of %s (%s), %d run(s)\n\n", reg.name, spec.files, formatSize(spec.size), formatSize(ds.size), runs)
	fmt.Fprintln(w, "vessel: push --dataset --key (small files in tar groups, every file in the signed OpenSSF signature), pull --key (every file checked), pull --include of one file (its entry alone fetched by range, checked against the signature); the same bytes as four large files with vessel; oras: push of the directory (one tar+gzip layer, nothing per file) and pull; tar: the filesystem's share, with no network, registry or signature (GNU tar reading the files into a pipe, warm; and unpacking them from a local tar file, then sync -f).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| op | tool | what | median s | MiB/s | peak RSS MiB | runs (s) |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---|")
	med := map[string]time.Duration{}
	for _, r := range rows {
		m := median(r.samples)
		med[r.op+"/"+r.tool+"/"+r.what] = m
		var peak int64
		var all []string
		for _, s := range r.samples {
			peak = max(peak, s.maxRSS)
			all = append(all, fmt.Sprintf("%.2f", s.wall.Seconds()))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f | %.0f | %.0f | %s |\n", r.op, r.tool, r.what, m.Seconds(), mibPerSec(r.size, m), float64(peak)/(1<<20), strings.Join(all, ", "))
	}
	fmt.Fprintln(w)
	for _, op := range []string{opPush, opPull} {
		v, four, oras := med[op+"/vessel/dataset"], med[op+"/vessel/four files"], med[op+"/oras/dataset"]
		if v > 0 && four > 0 {
			fmt.Fprintf(w, "- vessel %s: dataset / four files %.2fx (target <= 1.5x): %s\n", op, v.Seconds()/four.Seconds(), verdict(v.Seconds() <= 1.5*four.Seconds()))
		}
		if v > 0 && oras > 0 {
			fmt.Fprintf(w, "- vessel %s: dataset / oras %.2fx (target <= 1.0x): %s\n", op, v.Seconds()/oras.Seconds(), verdict(v <= oras))
		}
		floor := opFloorRead
		if op == opPull {
			floor = opFloorUnpack
		}
		fd, ff := med[floor+"/"+floorTool+"/dataset"], med[floor+"/"+floorTool+"/four files"]
		if fd > 0 && ff > 0 {
			fmt.Fprintf(w, "- tar %s (the filesystem's share of a %s): dataset / four files %.2fx; vessel %s of the dataset / it %.2fx\n", floor, op, fd.Seconds()/ff.Seconds(), op, v.Seconds()/fd.Seconds())
		}
	}
}

// hugeDataset pushes and pulls a dataset of very many tiny files once with
// vessel on tmpfs, to show where it stands and which limit applies; a
// refusal is reported, not an error of the bench.
func hugeDataset(ctx context.Context, opts options, bins registryBins, tools []tool) error {
	i := slices.IndexFunc(tools, func(t tool) bool { return t.name == "vessel" })
	if i < 0 || opts.hugeDataset.files == 0 {
		return nil
	}
	t := tools[i]
	dir, err := os.MkdirTemp("/dev/shm", "vessel-bench-huge-")
	if err != nil {
		return fmt.Errorf("huge dataset on tmpfs: %w", err)
	}
	defer os.RemoveAll(dir)
	spec := opts.hugeDataset
	logf("generating %d files of %s on tmpfs", spec.files, formatSize(spec.size))
	ds, err := generateDataset(ctx, filepath.Join(dir, "data"), spec)
	if err != nil {
		return err
	}
	reg, err := startRegistry(ctx, opts.registries[0], bins, filepath.Join(dir, "registry"))
	if err != nil {
		return err
	}
	defer reg.stop()
	ref := reg.addr + "/bench/huge:v1"
	fmt.Fprintf(os.Stdout, "\n## %d files of %s (%s) on tmpfs, vessel, %s, 1 run\n\n", spec.files, formatSize(spec.size), formatSize(ds.size), reg.name)
	fmt.Fprintln(os.Stdout, "| op | s | peak RSS MiB | outcome |")
	fmt.Fprintln(os.Stdout, "|---|---:|---:|---|")
	for _, op := range []string{opPush, opPull} {
		scratch := filepath.Join(dir, "scratch")
		_ = os.MkdirAll(filepath.Join(scratch, "xdg"), 0o755)
		var cmd *exec.Cmd
		var out strings.Builder
		if op == opPush {
			cmd = newCmd(ctx, &out, t.bin, "push", "--quiet", "--dataset", "--key", t.keys.pkcs8, ds.dir, ref)
		} else {
			cmd = newCmd(ctx, &out, t.bin, "pull", "--quiet", "--key", t.keys.pkcs8Pub, "--cache-dir", filepath.Join(scratch, "store"), ref, filepath.Join(scratch, "data"))
		}
		setEnv(cmd, filepath.Join(scratch, "xdg"))
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		outcome := "ok"
		if err != nil {
			outcome = "refused: " + strings.ReplaceAll(strings.TrimSpace(out.String()), "\n", " ")
		}
		logf("huge dataset: vessel %s: %.1fs: %s", op, wall.Seconds(), outcome)
		fmt.Fprintf(os.Stdout, "| %s | %.1f | %.0f | %s |\n", op, wall.Seconds(), float64(maxRSS(cmd))/(1<<20), outcome)
		_ = os.RemoveAll(scratch)
		if err != nil {
			break
		}
	}
	return nil
}
