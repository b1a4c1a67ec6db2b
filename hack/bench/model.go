//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const numShards = 4

type model struct {
	dir     string
	files   []string // relative slash paths, sorted
	size    int64    // total bytes of all files
	dataset bool     // many small files: vessel pushes it with --dataset
}

// Sparse shards hold sparseChunk random bytes every sparseEvery bytes and
// holes in between: an 8 GiB model costs 128 MiB of disk and seconds to make.
const (
	sparseEvery = 256 << 20
	sparseChunk = 4 << 20
)

// generateModel writes a sharded model of about size bytes into dir: the
// small files of the sample model (config, tokenizer with its nested
// tokenizer/ dir, card, license) plus numShards weight shards and their
// index. Shards are valid safetensors files holding one U8 tensor of
// pseudo-random bytes: incompressible, so no tool or transport gains from
// compression, and deterministic, so every run pushes the same digests.
// With sparse, the tensor is mostly holes (zeros), see sparseEvery: cheap to
// create, for measuring memory at sizes where time is not the point.
func generateModel(ctx context.Context, dir, sampleDir string, size int64, sparse bool) (model, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return model{}, fmt.Errorf("generate model: %w", err)
	}
	if err := copySmallFiles(sampleDir, dir); err != nil {
		return model{}, err
	}

	shard := size / numShards
	weightMap := map[string]string{}
	for i := range numShards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, numShards)
		tensor := fmt.Sprintf("model.layers.%d.weight", i)
		if err := writeShard(ctx, filepath.Join(dir, name), tensor, shard, uint64(i+1), sparse); err != nil {
			return model{}, err
		}
		weightMap[tensor] = name
	}
	index, err := json.MarshalIndent(map[string]any{
		"metadata":   map[string]any{"total_size": shard * numShards},
		"weight_map": weightMap,
	}, "", "  ")
	if err != nil {
		return model{}, fmt.Errorf("generate model: index: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), append(index, '\n'), 0o644); err != nil {
		return model{}, fmt.Errorf("generate model: %w", err)
	}
	return scanModel(dir)
}

// copySmallFiles copies the sample model without its weights, keeping the
// nested tokenizer/ directory so both tools handle subdirectories.
func copySmallFiles(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copy sample model: %w", err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case rel == "model.safetensors", !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("copy sample model: %w", err)
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// writeShard writes a safetensors file of exactly size bytes: u64 LE header
// length, JSON header padded with spaces to 8 bytes, then one U8 tensor.
func writeShard(ctx context.Context, path, tensor string, size int64, seed uint64, sparse bool) error {
	header := func(n int64) []byte {
		h := fmt.Sprintf(`{"__metadata__":{"format":"pt"},%q:{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}`, tensor, n, n)
		h += strings.Repeat(" ", (8-len(h)%8)%8)
		return []byte(h)
	}
	// The header length depends on the digits of n; two rounds settle it.
	n := size - 8 - int64(len(header(size)))
	n = size - 8 - int64(len(header(n)))
	h := header(n)
	if n <= 0 || 8+int64(len(h))+n != size {
		return fmt.Errorf("generate shard %s: cannot fit a tensor in %d bytes", path, size)
	}

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("generate shard: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(h)))
	w.Write(lenBuf[:])
	w.Write(h)

	// ChaCha8 from math/rand/v2 produces several GB/s per core, so generating
	// 1 GiB takes about as long as writing it.
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	rng := rand.NewChaCha8(key)
	if sparse {
		return writeSparse(ctx, f, w, rng, size)
	}
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf[:min(left, int64(len(buf)))]
		rng.Read(chunk)
		if _, err := w.Write(chunk); err != nil {
			return fmt.Errorf("generate shard %s: %w", path, err)
		}
		left -= int64(len(chunk))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("generate shard %s: %w", path, err)
	}
	return f.Close()
}

// writeSparse writes a chunk of random bytes every sparseEvery bytes after
// the header already in w, leaving holes in between, and sizes f to size.
func writeSparse(ctx context.Context, f *os.File, w *bufio.Writer, rng *rand.ChaCha8, size int64) error {
	if err := w.Flush(); err != nil {
		return fmt.Errorf("generate shard %s: %w", f.Name(), err)
	}
	buf := make([]byte, sparseChunk)
	for off := int64(sparseEvery); off+sparseChunk <= size; off += sparseEvery {
		if err := ctx.Err(); err != nil {
			return err
		}
		rng.Read(buf)
		if _, err := f.WriteAt(buf, off); err != nil {
			return fmt.Errorf("generate shard %s: %w", f.Name(), err)
		}
	}
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("generate shard %s: %w", f.Name(), err)
	}
	return f.Close()
}

// scanModel lists the regular files under dir with their total size; it
// describes the source and checks what a pull brought back.
func scanModel(dir string) (model, error) {
	m := model{dir: dir}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		m.files = append(m.files, filepath.ToSlash(rel))
		m.size += info.Size()
		return nil
	})
	if err != nil {
		return model{}, fmt.Errorf("scan %s: %w", dir, err)
	}
	sort.Strings(m.files)
	return m, nil
}

// parseSize reads "1GiB", "64MiB", "512KiB", "2GB", "1000000" (bytes).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"B", 1},
	}
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToLower(t), strings.ToLower(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 64MiB, 1GiB, 2GB)", s)
	}
	return int64(v * float64(mult)), nil
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}
