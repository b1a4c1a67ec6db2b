package artifact

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/zstd"
	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/vessel-oci/vessel/errdef"
)

// newStaging returns an empty staging directory inside a parent that holds
// nothing else, so a test can check that nothing landed beside it.
func newStaging(t *testing.T) (parent, staging string) {
	t.Helper()
	parent = t.TempDir()
	staging = filepath.Join(parent, "staging")
	if err := os.Mkdir(staging, 0o755); err != nil {
		t.Fatal(err)
	}
	return parent, staging
}

func newUnpacker(t *testing.T, staging string, p *Plan) *Unpacker {
	t.Helper()
	u, err := NewUnpacker(staging, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// assertContained fails unless parent holds only the staging directory.
func assertContained(t *testing.T, parent string) {
	t.Helper()
	if got := entries(t, parent); !slices.Equal(got, []string{"staging"}) {
		t.Errorf("something was written beside the staging directory: %q", got)
	}
}

func assertMode(t *testing.T, p string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), want&^processUmask(); got != want {
		t.Errorf("%s: mode %v, want %v", p, got, want)
	}
}

func TestUnpackRaw(t *testing.T) {
	t.Parallel()
	w := bytes.Repeat([]byte("weights "), 100000) // several reads
	script := []byte("#!/bin/sh\n")
	layers := []ocispec.Descriptor{
		rawLayer(t, "model/w.bin", w),
		mpLayer(t, modelspec.MediaTypeModelCodeRaw, "run.sh", script, 0o755, int64(len(script))),
		mpLayer(t, modelspec.MediaTypeModelDocRaw, "a/b/c/private.txt", []byte("p"), 0o640, 1),
		rawLayer(t, "empty", nil),
	}
	p := mustPlan(t, Limits{}, layers...)
	parent, staging := newStaging(t)
	u := newUnpacker(t, staging, p)
	blobs := [][]byte{w, script, []byte("p"), nil}
	for i, e := range p.Entries {
		var seen int64
		// OneByteReader makes every boundary case of the verify reader happen.
		r := io.Reader(bytes.NewReader(blobs[i]))
		if len(blobs[i]) < 100 {
			r = iotest.OneByteReader(r)
		}
		if err := u.Write(context.Background(), e, r, func(n int64) { seen += n }); err != nil {
			t.Fatalf("Write %s: %v", e.Path, err)
		}
		if seen != int64(len(blobs[i])) {
			t.Errorf("%s: progress saw %d bytes, want %d", e.Path, seen, len(blobs[i]))
		}
	}
	want := map[string]string{
		"model": "<dir>", "model/w.bin": string(w), "run.sh": string(script),
		"a": "<dir>", "a/b": "<dir>", "a/b/c": "<dir>", "a/b/c/private.txt": "p", "empty": "",
	}
	if got := readTree(t, staging); !mapsEqual(got, want) {
		t.Errorf("staging tree:\n got %v\nwant %v", keys(got), keys(want))
	}
	assertMode(t, filepath.Join(staging, "model", "w.bin"), 0o644)
	assertMode(t, filepath.Join(staging, "run.sh"), 0o755)
	assertMode(t, filepath.Join(staging, "a", "b", "c", "private.txt"), 0o640)
	assertContained(t, parent)
}

func TestUnpackRawRefused(t *testing.T) {
	t.Parallel()
	w := []byte("the real weights")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		body io.Reader
		want error
	}{
		{"wrong content", context.Background(), strings.NewReader("the fake weights"), errdef.ErrDigestMismatch},
		{"short", context.Background(), bytes.NewReader(w[:len(w)-1]), errdef.ErrSizeMismatch},
		{"empty", context.Background(), bytes.NewReader(nil), errdef.ErrSizeMismatch},
		{"long", context.Background(), io.MultiReader(bytes.NewReader(w), strings.NewReader("!")), errdef.ErrSizeMismatch},
		{"long, one byte at a time", context.Background(), iotest.OneByteReader(io.MultiReader(bytes.NewReader(w), strings.NewReader("!"))), errdef.ErrSizeMismatch},
		{"read error", context.Background(), io.MultiReader(bytes.NewReader(w[:3]), iotest.ErrReader(io.ErrClosedPipe)), io.ErrClosedPipe},
		{"cancelled", cancelled, bytes.NewReader(w), context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustPlan(t, Limits{}, rawLayer(t, "w.bin", w))
			parent, staging := newStaging(t)
			u := newUnpacker(t, staging, p)
			if err := u.Write(tc.ctx, p.Entries[0], tc.body, nil); !errors.Is(err, tc.want) {
				t.Errorf("Write = %v, want %v", err, tc.want)
			}
			assertContained(t, parent)
		})
	}
}

func TestUnpackSHA512(t *testing.T) {
	t.Parallel()
	w := []byte("weights")
	for _, body := range []string{"weights", "Weights"} {
		d := rawLayer(t, "w.bin", w)
		d.Digest = digest.SHA512.FromBytes(w)
		p := mustPlan(t, Limits{}, d)
		_, staging := newStaging(t)
		u := newUnpacker(t, staging, p)
		err := u.Write(context.Background(), p.Entries[0], strings.NewReader(body), nil)
		if ok := body == "weights"; ok != (err == nil) || (!ok && !errors.Is(err, errdef.ErrDigestMismatch)) {
			t.Errorf("Write(%q) against a sha512 digest = %v", body, err)
		}
	}
}

// tarFormats are the three ways a tar layer can be encoded.
var tarFormats = []struct {
	format    Format
	mediaType string
	encode    func(testing.TB, []byte) []byte
}{
	{FormatTar, modelspec.MediaTypeModelWeight, func(_ testing.TB, b []byte) []byte { return b }},
	{FormatTarGzip, modelspec.MediaTypeModelWeightGzip, gzipBytes},
	{FormatTarZstd, modelspec.MediaTypeModelWeightZstd, zstdBytes},
}

func TestUnpackTar(t *testing.T) {
	t.Parallel()
	longName := "model/" + strings.Repeat("long-directory-name/", 8) + "w.bin" // needs PAX or GNU long names
	files := []tarFile{
		{Hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "ignored"}}},
		dirEntry("model/"),
		dirEntry("./model/sub/"),
		{Hdr: tar.Header{Name: "model/sub/run.sh", Typeflag: tar.TypeReg, Mode: 0o755, Size: 10}, Body: "#!/bin/sh\n"},
		{Hdr: tar.Header{Name: "./model/config.json", Typeflag: tar.TypeReg, Mode: 0o640, Size: 2}, Body: "{}"},
		reg("model/implicit/parents/f.txt", "no dir entries for my parents"),
		{Hdr: tar.Header{Name: longName, Typeflag: tar.TypeReg, Mode: 0o644, Size: 4, Format: tar.FormatPAX}, Body: "long"},
		{Hdr: tar.Header{Name: "model/gnu-" + strings.Repeat("x", 120), Typeflag: tar.TypeReg, Mode: 0o644, Size: 3, Format: tar.FormatGNU}, Body: "gnu"},
		{Hdr: tar.Header{Name: "model/setuid", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 1}, Body: "s"},
		{Hdr: tar.Header{Name: "model/no-mode", Typeflag: tar.TypeReg, Mode: 0, Size: 1}, Body: "m"},
		reg("model/empty", ""),
	}
	want := map[string]string{
		"model": "<dir>", "model/sub": "<dir>", "model/sub/run.sh": "#!/bin/sh\n", "model/config.json": "{}",
		"model/implicit": "<dir>", "model/implicit/parents": "<dir>", "model/implicit/parents/f.txt": "no dir entries for my parents",
		"model/gnu-" + strings.Repeat("x", 120): "gnu", "model/setuid": "s", "model/no-mode": "m", "model/empty": "",
	}
	for d := filepath.ToSlash(filepath.Dir(longName)); d != "model"; d = filepath.ToSlash(filepath.Dir(d)) {
		want[d] = "<dir>"
	}
	want[longName] = "long"
	tarBlob := makeTar(t, files...)
	// Bytes after the end-of-archive marker are allowed and covered by the digests.
	tarBlob = append(tarBlob, make([]byte, 4096)...)

	for _, tf := range tarFormats {
		t.Run(tf.format.String(), func(t *testing.T) {
			t.Parallel()
			blob := tf.encode(t, tarBlob)
			layer := mpLayer(t, tf.mediaType, "model", blob, 0, -1)
			p := mustPlan(t, Limits{}, layer, rawLayer(t, "model/raw.bin", []byte("raw")))
			if _, err := p.ApplyConfig(modelConfig(t, digest.FromBytes(tarBlob), digest.FromString("raw"))); err != nil {
				t.Fatal(err)
			}
			parent, staging := newStaging(t)
			u := newUnpacker(t, staging, p)
			var seen int64
			if err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(blob), func(n int64) { seen += n }); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if seen != int64(len(blob)) {
				t.Errorf("progress saw %d bytes, want %d", seen, len(blob))
			}
			if err := u.Write(context.Background(), p.Entries[1], strings.NewReader("raw"), nil); err != nil {
				t.Fatalf("Write raw file into a tar's directory: %v", err)
			}
			w := maps2(want)
			w["model/raw.bin"] = "raw"
			if got := readTree(t, staging); !mapsEqual(got, w) {
				t.Errorf("staging tree:\n got %q\nwant %q", keys(got), keys(w))
				for k, v := range w {
					if got[k] != v {
						t.Errorf("  %s: got %.40q want %.40q", k, got[k], v)
					}
				}
			}
			assertMode(t, filepath.Join(staging, "model", "sub", "run.sh"), 0o755)
			assertMode(t, filepath.Join(staging, "model", "config.json"), 0o640)
			assertMode(t, filepath.Join(staging, "model", "setuid"), 0o755) // no setuid bit
			assertMode(t, filepath.Join(staging, "model", "no-mode"), 0o644)
			fi, err := os.Stat(filepath.Join(staging, "model", "setuid"))
			if err != nil || fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
				t.Errorf("setuid entry unpacked with mode %v, %v", fi.Mode(), err)
			}
			assertContained(t, parent)
		})
	}
}

func TestUnpackTarRefused(t *testing.T) {
	t.Parallel()
	hdr := func(name string, typ byte) tarFile {
		return tarFile{Hdr: tar.Header{Name: name, Typeflag: typ, Mode: 0o644, Linkname: "target", Devmajor: 1, Devminor: 3}}
	}
	tests := []struct {
		name  string
		files []tarFile
		want  error
	}{
		{"dotdot", []tarFile{reg("../evil", "x")}, errdef.ErrUnsafePath},
		{"dotdot after a good file", []tarFile{reg("layer/ok", "fine"), reg("../evil", "x")}, errdef.ErrUnsafePath},
		{"dotdot inside", []tarFile{reg("a/../../evil", "x")}, errdef.ErrUnsafePath},
		{"dotdot directory", []tarFile{dirEntry("../evil/")}, errdef.ErrUnsafePath},
		{"absolute", []tarFile{reg("/evil", "x")}, errdef.ErrUnsafePath},
		{"absolute directory", []tarFile{dirEntry("/evil/")}, errdef.ErrUnsafePath},
		{"backslash", []tarFile{reg(`..\evil`, "x")}, errdef.ErrUnsafePath},
		{"root", []tarFile{dirEntry("./")}, errdef.ErrUnsafePath},
		{"duplicate entry", []tarFile{reg("layer/a", "1"), reg("layer/a", "2")}, errdef.ErrUnsafePath},
		{"file below a file", []tarFile{reg("layer/a", "1"), reg("layer/a/b", "2")}, errdef.ErrUnsafePath},
		{"directory over a file", []tarFile{reg("layer/a", "1"), dirEntry("layer/a/")}, errdef.ErrUnsafePath},
		{"file over a directory", []tarFile{dirEntry("layer/a/"), reg("layer/a", "1")}, errdef.ErrUnsafePath},
		{"outside the layer's path", []tarFile{reg("layer/ok", "fine"), reg("model.safetensors", "x")}, errdef.ErrUnsafePath},
		{"beside the layer's path", []tarFile{reg("layer2/f", "x")}, errdef.ErrUnsafePath},
		{"symlink", []tarFile{hdr("layer/link", tar.TypeSymlink)}, errdef.ErrUnsupportedEntry},
		{"symlink then write through it", []tarFile{{Hdr: tar.Header{Name: "layer/link", Typeflag: tar.TypeSymlink, Linkname: ".."}}, reg("layer/link/evil", "x")}, errdef.ErrUnsupportedEntry},
		{"hardlink", []tarFile{reg("layer/target", "t"), hdr("layer/hard", tar.TypeLink)}, errdef.ErrUnsupportedEntry},
		{"char device", []tarFile{hdr("layer/null", tar.TypeChar)}, errdef.ErrUnsupportedEntry},
		{"block device", []tarFile{hdr("layer/sda", tar.TypeBlock)}, errdef.ErrUnsupportedEntry},
		{"fifo", []tarFile{hdr("layer/pipe", tar.TypeFifo)}, errdef.ErrUnsupportedEntry},
		{"contiguous file", []tarFile{hdr("layer/cont", tar.TypeCont)}, errdef.ErrUnsupportedEntry},
		{"old GNU sparse", []tarFile{{Hdr: tar.Header{Name: "layer/sparse", Typeflag: tar.TypeGNUSparse, Format: tar.FormatGNU}}}, errdef.ErrUnsupportedEntry},
	}
	for _, tc := range tests {
		for _, tf := range tarFormats[:2] {
			t.Run(tc.name+"/"+tf.format.String(), func(t *testing.T) {
				t.Parallel()
				blob := tf.encode(t, makeTar(t, tc.files...))
				p := mustPlan(t, Limits{}, mpLayer(t, tf.mediaType, "layer", blob, 0, -1))
				parent, staging := newStaging(t)
				u := newUnpacker(t, staging, p)
				if err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(blob), nil); !errors.Is(err, tc.want) {
					t.Errorf("Write = %v, want %v", err, tc.want)
				}
				assertContained(t, parent)
				got := readTree(t, staging)
				for name := range got {
					if base := path.Base(name); strings.Contains(name, "evil") || base == "link" || base == "hard" || base == "model.safetensors" || strings.HasPrefix(name, "layer2") {
						t.Errorf("refused entry %q was written", name)
					}
				}
			})
		}
	}
}

func TestUnpackSparseRefused(t *testing.T) {
	t.Parallel()
	const realSize = 64 << 20
	tarBlob := sparseTar(t, "sparse.bin", realSize)
	// The test is only meaningful if archive/tar really expands the hole.
	tr := tar.NewReader(bytes.NewReader(tarBlob))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, tr); hdr.Typeflag != tar.TypeReg || n != realSize || err != nil {
		t.Fatalf("test setup: sparse tar reads as type %q, %d bytes, %v", hdr.Typeflag, n, err)
	}
	for _, tf := range tarFormats {
		t.Run(tf.format.String(), func(t *testing.T) {
			t.Parallel()
			blob := tf.encode(t, tarBlob)
			p := mustPlan(t, Limits{}, mpLayer(t, tf.mediaType, "sparse.bin", blob, 0, -1))
			parent, staging := newStaging(t)
			u := newUnpacker(t, staging, p)
			if err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(blob), nil); !errors.Is(err, errdef.ErrUnsupportedEntry) {
				t.Errorf("Write = %v, want errdef.ErrUnsupportedEntry", err)
			}
			if got := readTree(t, staging); len(got) != 0 {
				t.Errorf("wrote %q", keys(got))
			}
			assertContained(t, parent)
		})
	}
}

func TestUnpackDuplicatesAcrossLayers(t *testing.T) {
	t.Parallel()
	w := []byte("raw weights")
	tarWith := func(files ...tarFile) ocispec.Descriptor {
		return mpLayer(t, modelspec.MediaTypeModelWeight, "t", makeTar(t, files...), 0, -1)
	}
	tests := []struct {
		name     string
		tarFiles []tarFile
	}{
		{"same file", []tarFile{reg("w.bin", "tar weights")}},
		{"same file with dot slash", []tarFile{reg("./w.bin", "tar weights")}},
		{"file below the raw file", []tarFile{reg("w.bin/x", "x")}},
		{"directory at the raw file", []tarFile{dirEntry("w.bin/")}},
	}
	for _, tc := range tests {
		for _, rawFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/rawFirst=%v", tc.name, rawFirst), func(t *testing.T) {
				t.Parallel()
				tl := tarWith(tc.tarFiles...)
				tarBlob := makeTar(t, tc.tarFiles...)
				p := mustPlan(t, Limits{}, rawLayer(t, "w.bin", w), tl)
				_, staging := newStaging(t)
				u := newUnpacker(t, staging, p)
				writeRaw := func() error {
					return u.Write(context.Background(), p.Entries[0], bytes.NewReader(w), nil)
				}
				writeTar := func() error {
					return u.Write(context.Background(), p.Entries[1], bytes.NewReader(tarBlob), nil)
				}
				if rawFirst {
					if err := writeRaw(); err != nil {
						t.Fatal(err)
					}
					if err := writeTar(); !errors.Is(err, errdef.ErrUnsafePath) {
						t.Errorf("tar layer after raw = %v, want errdef.ErrUnsafePath", err)
					}
				} else {
					if err := writeTar(); !errors.Is(err, errdef.ErrUnsafePath) {
						t.Errorf("tar layer before raw = %v, want errdef.ErrUnsafePath", err)
					}
					if err := writeRaw(); err != nil {
						t.Fatal(err)
					}
				}
				if b, err := os.ReadFile(filepath.Join(staging, "w.bin")); err != nil || !bytes.Equal(b, w) {
					t.Errorf("w.bin holds %q, %v; want the raw layer's bytes", b, err)
				}
			})
		}
	}

	t.Run("two tar layers", func(t *testing.T) {
		t.Parallel()
		a := makeTar(t, dirEntry("shared/"), reg("shared/a", "a"), reg("shared/dup", "first"))
		b := makeTar(t, dirEntry("shared/"), reg("shared/dup", "second"))
		p := mustPlan(t, Limits{},
			mpLayer(t, modelspec.MediaTypeModelWeight, "shared", a, 0, -1),
			mpLayer(t, modelspec.MediaTypeModelWeight, "shared/dup", b, 0, -1))
		_, staging := newStaging(t)
		u := newUnpacker(t, staging, p)
		if err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(a), nil); err != nil {
			t.Fatal(err)
		}
		if err := u.Write(context.Background(), p.Entries[1], bytes.NewReader(b), nil); !errors.Is(err, errdef.ErrUnsafePath) {
			t.Errorf("second tar layer repeating a file = %v, want errdef.ErrUnsafePath", err)
		}
		if b, _ := os.ReadFile(filepath.Join(staging, "shared", "dup")); string(b) != "first" {
			t.Errorf("dup holds %q, want the first layer's bytes", b)
		}
	})
}

// bombTar is a tar+gzip and tar+zstd of one file of 64 MiB of zeros.
var bombTar = sync.OnceValues(func() (gz, zst []byte) {
	const size = 64 << 20
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	if err := tw.WriteHeader(&tar.Header{Name: "bomb.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		panic(err)
	}
	if _, err := tw.Write(make([]byte, size)); err != nil {
		panic(err)
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	var gzBuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gzBuf, gzip.BestSpeed)
	zw.Write(tarBuf.Bytes())
	zw.Close()
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	return gzBuf.Bytes(), enc.EncodeAll(tarBuf.Bytes(), nil)
})

func TestUnpackDecompressionBomb(t *testing.T) {
	t.Parallel()
	gz, zst := bombTar()
	tests := []struct {
		name     string
		mt       string
		blob     []byte
		declared int64 // -1: no metadata
		limits   Limits
	}{
		{"gzip, declared small", modelspec.MediaTypeModelWeightGzip, gz, 1024, Limits{}},
		{"zstd, declared small", modelspec.MediaTypeModelWeightZstd, zst, 1024, Limits{}},
		{"gzip, no declared size", modelspec.MediaTypeModelWeightGzip, gz, -1, Limits{MaxExpansion: 10}},
		{"zstd, no declared size", modelspec.MediaTypeModelWeightZstd, zst, -1, Limits{MaxExpansion: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustPlan(t, tc.limits, mpLayer(t, tc.mt, "bomb.bin", tc.blob, 0o644, tc.declared))
			if tc.declared < 0 && int64(len(tc.blob))*p.limits.maxExpansion()+tarOverhead >= 64<<20 {
				t.Fatalf("test setup: the expansion limit would not stop this bomb")
			}
			parent, staging := newStaging(t)
			u := newUnpacker(t, staging, p)
			err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(tc.blob), nil)
			if !errors.Is(err, errdef.ErrLimit) {
				t.Fatalf("Write = %v, want errdef.ErrLimit", err)
			}
			var written int64
			if fi, err := os.Stat(filepath.Join(staging, "bomb.bin")); err == nil {
				written = fi.Size()
			}
			if max := int64(8 << 20); written > max {
				t.Errorf("wrote %d bytes of the bomb before stopping, want at most %d", written, max)
			}
			assertContained(t, parent)
		})
	}

	t.Run("honest declared size", func(t *testing.T) {
		t.Parallel()
		// The same blob, honestly declared, unpacks: the cap is not too tight.
		p := mustPlan(t, Limits{}, mpLayer(t, modelspec.MediaTypeModelWeightZstd, "bomb.bin", zst, 0o644, 64<<20))
		_, staging := newStaging(t)
		u := newUnpacker(t, staging, p)
		if err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(zst), nil); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(staging, "bomb.bin")); err != nil || fi.Size() != 64<<20 {
			t.Errorf("bomb.bin: %v, %v", fi, err)
		}
	})

	t.Run("cap reached between entries", func(t *testing.T) {
		t.Parallel()
		// The first entry ends exactly at the cap, so the overflow is met
		// while reading the next tar header, not a file body.
		first := strings.Repeat("a", tarOverhead-512)
		blob := gzipBytes(t, makeTar(t, reg("first", first), reg("second", "b")))
		p := mustPlan(t, Limits{}, mpLayer(t, modelspec.MediaTypeModelWeightGzip, "first", blob, 0o644, 0))
		_, staging := newStaging(t)
		u := newUnpacker(t, staging, p)
		if err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(blob), nil); !errors.Is(err, errdef.ErrLimit) {
			t.Errorf("Write = %v, want errdef.ErrLimit", err)
		}
	})
}

func TestUnpackCompressedRefused(t *testing.T) {
	t.Parallel()
	tarBlob := makeTar(t, dirEntry("d/"), reg("d/w.bin", strings.Repeat("weights ", 10000)))
	for _, tf := range tarFormats {
		blob := tf.encode(t, tarBlob)
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		tests := []struct {
			name   string
			ctx    context.Context
			body   io.Reader
			diffID digest.Digest
			want   error
		}{
			{"short", context.Background(), bytes.NewReader(blob[:len(blob)/2]), "", errdef.ErrSizeMismatch},
			{"long", context.Background(), io.MultiReader(bytes.NewReader(blob), strings.NewReader("trailing")), "", errdef.ErrSizeMismatch},
			{"cancelled", cancelled, bytes.NewReader(blob), "", context.Canceled},
			{"diff ID mismatch", context.Background(), bytes.NewReader(blob), digest.FromString("another tar"), errdef.ErrDigestMismatch},
		}
		for _, tc := range tests {
			if tc.diffID != "" && tf.format == FormatTar {
				continue // ApplyConfig refuses this up front (see TestApplyConfig)
			}
			t.Run(tf.format.String()+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				p := mustPlan(t, Limits{}, mpLayer(t, tf.mediaType, "d", blob, 0, -1))
				if tc.diffID != "" {
					if _, err := p.ApplyConfig(modelConfig(t, tc.diffID)); err != nil {
						t.Fatal(err)
					}
				}
				parent, staging := newStaging(t)
				u := newUnpacker(t, staging, p)
				if err := u.Write(tc.ctx, p.Entries[0], tc.body, nil); !errors.Is(err, tc.want) {
					t.Errorf("Write = %v, want %v", err, tc.want)
				}
				assertContained(t, parent)
			})
		}
	}
}

func TestUnpackTamperedBlob(t *testing.T) {
	t.Parallel()
	// Incompressible content, so most of the blob is file body: where a
	// flipped bit usually lands.
	body := make([]byte, 100000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	tarBlob := makeTar(t, dirEntry("d/"), reg("d/w.bin", string(body)), reg("d/small", "s"))
	for _, tf := range tarFormats {
		t.Run(tf.format.String(), func(t *testing.T) {
			t.Parallel()
			blob := tf.encode(t, tarBlob)
			for off := 0; off < len(blob); off += len(blob)/40 + 1 {
				tampered := bytes.Clone(blob)
				tampered[off] ^= 0x55
				p := mustPlan(t, Limits{}, mpLayer(t, tf.mediaType, "d", blob, 0, -1))
				_, staging := newStaging(t)
				u := newUnpacker(t, staging, p)
				err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(tampered), nil)
				if !errors.Is(err, errdef.ErrDigestMismatch) {
					t.Errorf("byte %d of %d flipped: Write = %v, want errdef.ErrDigestMismatch", off, len(blob), err)
				}
			}
		})
	}
}

func TestUnpackAuthenticButBroken(t *testing.T) {
	t.Parallel()
	good := makeTar(t, reg("w.bin", strings.Repeat("weights ", 1000)))
	badCRC := gzipBytes(t, good)
	badCRC[len(badCRC)-8] ^= 0xff // gzip trailer: CRC-32 of the content
	tests := []struct {
		name string
		mt   string
		blob []byte
	}{
		{"gzip with a bad checksum", modelspec.MediaTypeModelWeightGzip, badCRC},
		{"not gzip at all", modelspec.MediaTypeModelWeightGzip, []byte("plain text, not gzip")},
		{"not zstd at all", modelspec.MediaTypeModelWeightZstd, []byte("plain text, not zstd")},
		{"tar cut inside an entry", modelspec.MediaTypeModelWeightGzip, gzipBytes(t, good[:700])},
		{"tar cut inside an entry, zstd", modelspec.MediaTypeModelWeightZstd, zstdBytes(t, good[:700])},
		{"plain tar cut inside an entry", modelspec.MediaTypeModelWeight, good[:700]},
		{"garbage tar header", modelspec.MediaTypeModelWeight, bytes.Repeat([]byte("x"), 1024)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The manifest describes these exact bytes: they are what the
			// publisher pushed, so the blob is authentic but unusable.
			p := mustPlan(t, Limits{}, mpLayer(t, tc.mt, "w.bin", tc.blob, 0, -1))
			_, staging := newStaging(t)
			u := newUnpacker(t, staging, p)
			err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(tc.blob), nil)
			if !errors.Is(err, ErrNotModel) || errors.Is(err, errdef.ErrDigestMismatch) {
				t.Errorf("Write = %v, want ErrNotModel and no digest mismatch", err)
			}
		})
	}

	t.Run("write failure is not bad data", func(t *testing.T) {
		t.Parallel()
		blob := gzipBytes(t, good)
		p := mustPlan(t, Limits{}, mpLayer(t, modelspec.MediaTypeModelWeightGzip, "w.bin", blob, 0, -1))
		_, staging := newStaging(t)
		// Something else already holds the name in staging.
		if err := os.WriteFile(filepath.Join(staging, "w.bin"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		u := newUnpacker(t, staging, p)
		err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(blob), nil)
		if !errors.Is(err, fs.ErrExist) || errors.Is(err, ErrNotModel) || errors.Is(err, errdef.ErrDigestMismatch) {
			t.Errorf("Write = %v, want fs.ErrExist only", err)
		}
	})
}

func TestUnpackConcurrent(t *testing.T) {
	t.Parallel()
	const n = 8
	var (
		layers []ocispec.Descriptor
		blobs  [][]byte
		want   = map[string]string{"shared": "<dir>", "shared/common": "<dir>"}
	)
	for i := range n {
		content := strings.Repeat(strconv.Itoa(i), 200000+i)
		if i%2 == 0 {
			p := fmt.Sprintf("shared/raw%d/w.bin", i)
			blobs = append(blobs, []byte(content))
			layers = append(layers, rawLayer(t, p, []byte(content)))
			want[p] = content
			want[filepath.ToSlash(filepath.Dir(p))] = "<dir>"
			continue
		}
		// Tar layers all create shared/common, and each its own file in it.
		blob := gzipBytes(t, makeTar(t, dirEntry("shared/"), dirEntry("shared/common/"), reg(fmt.Sprintf("shared/common/t%d.bin", i), content)))
		blobs = append(blobs, blob)
		layers = append(layers, mpLayer(t, modelspec.MediaTypeModelWeightGzip, fmt.Sprintf("shared/common/t%d.bin", i), blob, 0o644, int64(len(content))))
		want[fmt.Sprintf("shared/common/t%d.bin", i)] = content
	}
	p := mustPlan(t, Limits{}, layers...)
	parent, staging := newStaging(t)
	u := newUnpacker(t, staging, p)
	var g errgroup.Group
	for i, e := range p.Entries {
		g.Go(func() error {
			// Small reads interleave the goroutines' work.
			return u.Write(context.Background(), e, bufio.NewReaderSize(bytes.NewReader(blobs[i]), 16), nil)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, staging); !mapsEqual(got, want) {
		t.Errorf("staging tree:\n got %q\nwant %q", keys(got), keys(want))
	}
	assertContained(t, parent)
}

// FuzzUnpackTar feeds arbitrary bytes to the Unpacker as a tar layer: it
// must never panic, write outside the staging directory, write anything but
// regular files and directories, touch a raw layer's path, or write more
// bytes than the layer holds.
//
// Inputs are tars of a few KiB, which Go's minimizer (O(n^2) candidates,
// 60 s by default per new input) would spend a short run on; bound it:
//
//	go test ./artifact -run='^$' -fuzz=FuzzUnpackTar -fuzztime=60s -fuzzminimizetime=200x
func FuzzUnpackTar(f *testing.F) {
	seeds := [][]tarFile{
		{reg("a", "hello")},
		{dirEntry("d/"), reg("d/f", "x"), reg("./d/g", "y")},
		{reg("../evil", "x")},
		{reg("/abs", "x")},
		{reg("a", "1"), reg("a/b", "2")},
		{{Hdr: tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/"}}, reg("link/x", "x")},
		{{Hdr: tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}}},
		{{Hdr: tar.Header{Name: strings.Repeat("p/", 60) + "f", Typeflag: tar.TypeReg, Size: 1, Format: tar.FormatPAX}, Body: "z"}},
		{{Hdr: tar.Header{Name: strings.Repeat("g", 150), Typeflag: tar.TypeReg, Size: 1, Format: tar.FormatGNU}, Body: "z"}},
		{{Hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "g", PAXRecords: map[string]string{"path": "../x"}}}, reg("f", "1")},
	}
	for _, s := range seeds {
		f.Add(makeTar(f, s...))
	}
	f.Add(sparseTar(f, "sparse", 1<<20))
	f.Add([]byte{})
	f.Add(make([]byte, 1024))

	// One base directory per fuzzing process: t.TempDir per input costs
	// more than unpacking most inputs, and the minimizer runs thousands.
	base := f.TempDir()
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		data = fixTarChecksums(data)
		parent := filepath.Join(base, strconv.FormatInt(n.Add(1), 10))
		staging := filepath.Join(parent, "staging")
		if err := os.MkdirAll(staging, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		// "raw" belongs to a raw layer (not written here, to keep the
		// input cheap): the tar may not claim it or anything below it.
		p := &Plan{Entries: []Entry{
			{Path: "layer", Format: FormatTar, Mode: 0o644, DeclaredSize: -1, Layer: ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}},
			{Path: "raw", Format: FormatRaw, Mode: 0o644, DeclaredSize: -1, Layer: ocispec.Descriptor{Digest: digest.FromString("raw"), Size: 3}},
		}}
		u, err := NewUnpacker(staging, p)
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		_ = u.Write(context.Background(), p.Entries[0], bytes.NewReader(data), nil)

		if got := entries(t, parent); len(got) != 1 || got[0] != "staging" {
			t.Fatalf("wrote beside the staging directory: %q", got)
		}
		if _, err := os.Lstat(filepath.Join(staging, "raw")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the tar wrote at the raw layer's path: %v", err)
		}
		var total int64
		err = filepath.WalkDir(staging, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && !d.Type().IsRegular() {
				t.Fatalf("%s: unpacked a %v", path, d.Type())
			}
			if fi, err := d.Info(); err == nil && d.Type().IsRegular() {
				total += fi.Size()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if total > int64(len(data)) {
			t.Fatalf("unpacked %d bytes from a %d-byte tar", total, len(data))
		}
	})
}

// fixTarChecksums gives every non-zero 512-byte block a valid tar header
// checksum, so mutated headers are parsed rather than all refused as
// corrupt. (A data block that gets a checksum is still just data.)
func fixTarChecksums(data []byte) []byte {
	data = bytes.Clone(data)
	for off := 0; off+512 <= len(data); off += 512 {
		blk := data[off : off+512]
		if bytes.Count(blk, []byte{0}) == len(blk) {
			continue // end-of-archive blocks stay zero
		}
		copy(blk[148:156], "        ")
		sum := 0
		for _, c := range blk {
			sum += int(c)
		}
		copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	}
	return data
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func maps2(m map[string]string) map[string]string { return maps(m) }

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
