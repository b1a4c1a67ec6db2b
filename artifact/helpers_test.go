package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/klauspost/compress/zstd"
	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// readTree maps every regular file under dir (slash path) to its content
// and every directory to "<dir>". Anything else fails the test: nothing
// vessel writes may be a link or a special file.
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out[rel] = "<dir>"
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		default:
			t.Errorf("%s: unexpected %v", rel, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// entries lists the names in dir.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// tarFile is one entry of a test tar; Body is written for regular files.
type tarFile struct {
	Hdr  tar.Header
	Body string
}

func reg(name, body string) tarFile {
	return tarFile{Hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, Body: body}
}

func dirEntry(name string) tarFile {
	return tarFile{Hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func makeTar(t testing.TB, files ...tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := f.Hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if f.Body != "" {
			if _, err := tw.Write([]byte(f.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// metadata returns a ModelPack file metadata annotation value.
func metadata(t testing.TB, name string, mode uint32, size int64) string {
	t.Helper()
	b, err := json.Marshal(modelspec.FileMetadata{Name: name, Mode: mode, Size: size, Typeflag: '0'})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mpLayer describes blob as a ModelPack layer of media type mt at path p,
// with a file metadata annotation when size >= 0.
func mpLayer(t testing.TB, mt, p string, blob []byte, mode uint32, size int64) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{
		MediaType:   mt,
		Digest:      digest.FromBytes(blob),
		Size:        int64(len(blob)),
		Annotations: map[string]string{modelspec.AnnotationFilepath: p},
	}
	if size >= 0 {
		d.Annotations[modelspec.AnnotationFileMetadata] = metadata(t, p, mode, size)
	}
	return d
}

// rawLayer describes data as a raw ModelPack weight layer at path p.
func rawLayer(t testing.TB, p string, data []byte) ocispec.Descriptor {
	t.Helper()
	return mpLayer(t, modelspec.MediaTypeModelWeightRaw, p, data, 0o644, int64(len(data)))
}

var emptyConfig = ocispec.Descriptor{
	MediaType: modelspec.MediaTypeModelConfig,
	Digest:    digest.FromString("{}"),
	Size:      2,
}

// modelManifest returns the JSON of a ModelPack manifest holding layers.
func modelManifest(t testing.TB, layers ...ocispec.Descriptor) []byte {
	t.Helper()
	return marshalManifest(t, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: modelspec.ArtifactTypeModelManifest,
		Config:       emptyConfig,
		Layers:       layers,
	})
}

func marshalManifest(t testing.TB, m ocispec.Manifest) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustPlan parses a ModelPack manifest of layers or fails the test.
func mustPlan(t testing.TB, limits Limits, layers ...ocispec.Descriptor) *Plan {
	t.Helper()
	p, err := ParseManifest(modelManifest(t, layers...), limits)
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	return p
}

// paxRecord encodes one PAX extended header record ("LEN key=value\n").
func paxRecord(k, v string) string {
	rec := " " + k + "=" + v + "\n"
	n := len(rec) + 1
	for len(strconv.Itoa(n))+len(rec) != n {
		n++
	}
	return strconv.Itoa(n) + rec
}

// sparseTar returns a tar holding one PAX (GNU 1.0) sparse file named name
// that is entirely a hole of realSize bytes: a few KiB that archive/tar
// reads as realSize zero bytes of a regular file. tar.Writer will not write
// GNU.sparse records, so the PAX header block is written as a regular
// entry and its type patched.
func sparseTar(t testing.TB, name string, realSize int64) []byte {
	t.Helper()
	recs := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", name) + paxRecord("GNU.sparse.realsize", strconv.FormatInt(realSize, 10))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "PaxHeaders/x", Typeflag: tar.TypeReg, Size: int64(len(recs)), Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(recs)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	blk := buf.Bytes()[:512]
	blk[156] = tar.TypeXHeader
	copy(blk[148:156], "        ")
	sum := 0
	for _, c := range blk {
		sum += int(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	// The file's data is its sparse map: no data fragments at all.
	sparseMap := append([]byte("0\n"), make([]byte, 510)...)
	if err := tw.WriteHeader(&tar.Header{Name: "GNUSparseFile.0/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(sparseMap)), Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(sparseMap); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unpackAll writes every entry of p from blobs (by layer digest) into a
// new staging directory and returns what it holds, and the unpacker.
func unpackAll(t *testing.T, p *Plan, blobs map[digest.Digest][]byte) (map[string]string, *Unpacker) {
	t.Helper()
	_, staging := newStaging(t)
	u := newUnpacker(t, staging, p)
	for _, e := range p.Entries {
		if err := u.Write(context.Background(), e, bytes.NewReader(blobs[e.Layer.Digest]), nil); err != nil {
			t.Fatalf("%s: %v", e.Path, err)
		}
	}
	return readTree(t, staging), u
}
