package artifact

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
)

// writeDataset makes files named by relative path under a new directory.
func writeDataset(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	testutil.WriteTree(t, dir, files)
	return dir
}

// packGroups is each unit's tar digest (or, for a raw unit, its path).
func packGroups(t *testing.T, dir string, opts GroupOptions) map[string]digest.Digest {
	t.Helper()
	files, err := Scan(dir, ScanOptions{Dataset: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]digest.Digest{}
	for i, u := range Units(files, opts) {
		if !u.Tar {
			out[u.Path] = ""
			continue
		}
		var buf bytes.Buffer
		sums, err := WriteTar(context.Background(), &buf, u)
		if err != nil {
			t.Fatal(err)
		}
		for j, f := range u.Files {
			if sums[j] != digest.FromString(mustRead(t, f.Source)) {
				t.Fatalf("%s: digest %s is not the file's", f.Path, sums[j])
			}
		}
		out[fmt.Sprintf("%s#%d", u.Path, i)] = digest.FromBytes(buf.Bytes())
	}
	return out
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dataset(dirs, perDir int) map[string]string {
	files := map[string]string{"README.md": "# a dataset\n", "top.json": "{}"}
	for d := range dirs {
		for f := range perDir {
			files[fmt.Sprintf("train/c%02d/%03d.txt", d, f)] = fmt.Sprintf("sample %d of class %d\n", f, d)
		}
	}
	return files
}

// The same files make the same tar bytes whatever their times, owners
// and read/write permission bits; editing one directory changes only
// that directory's group.
func TestGroupsDeterministicAndStable(t *testing.T) {
	t.Parallel()
	opts := GroupOptions{MinFiles: 10}
	files := dataset(4, 20)
	a, b := writeDataset(t, files), writeDataset(t, files)
	// Another machine: other times and permissions.
	_ = filepath.Walk(b, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			_ = os.Chtimes(p, time.Unix(1e9, 0), time.Unix(1e9, 0))
			_ = os.Chmod(p, 0o600)
		}
		return nil
	})
	pa, pb := packGroups(t, a, opts), packGroups(t, b, opts)
	if len(pa) != 4+2 { // four class groups; README.md (a doc) and top.json alone at the root
		t.Fatalf("units: %v", pa)
	}
	for k, d := range pa {
		if pb[k] != d {
			t.Fatalf("%s: %s here, %s on the other machine", k, d, pb[k])
		}
	}
	if err := os.WriteFile(filepath.Join(b, "train", "c02", "005.txt"), []byte("edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for k, d := range packGroups(t, b, opts) {
		if pa[k] != d {
			changed++
		}
	}
	if changed != 1 {
		t.Fatalf("editing one file changed %d groups, want 1", changed)
	}
}

func TestUnitsThresholds(t *testing.T) {
	t.Parallel()
	files := func(n int, size int64) []File {
		var out []File
		for i := range n {
			out = append(out, File{Path: fmt.Sprintf("d/%04d", i), Size: size, MediaType: RoleDataset.RawMediaType()})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		files []File
		opts  GroupOptions
		tars  int
		raws  int
	}{
		{"few small files stay raw", files(255, 10), GroupOptions{}, 0, 255},
		{"many small files group", files(256, 10), GroupOptions{}, 1, 0},
		{"large files stay raw", files(300, 1<<20), GroupOptions{}, 0, 300},
		{"groups split at the target (a 1,000-byte file takes 1,536 in the tar)", files(300, 1000), GroupOptions{Target: 100_000}, 5, 0},
		{"grouping off", files(300, 10), GroupOptions{MinFiles: -1}, 0, 300},
		{"custom media types stay raw", append(files(300, 10), File{Path: "e/x", Size: 1, MediaType: "application/x-custom"}), GroupOptions{}, 1, 1},
	} {
		tars, raws := 0, 0
		for _, u := range Units(tc.files, tc.opts) {
			if u.Tar {
				tars++
				if u.MediaType != "application/vnd.cncf.model.dataset.v1.tar" || u.Path != "d" {
					t.Errorf("%s: group %s %s", tc.name, u.Path, u.MediaType)
				}
			} else {
				raws++
			}
		}
		if tars != tc.tars || raws != tc.raws {
			t.Errorf("%s: %d tar and %d raw units, want %d and %d", tc.name, tars, raws, tc.tars, tc.raws)
		}
	}
}

// Groups of one directory (split at the target) and of the root unpack
// to the files they were made of, each file's digest recorded; a file in
// two groups of one directory is refused.
func TestGroupsUnpack(t *testing.T) {
	t.Parallel()
	files := dataset(2, 30)
	for i := range 40 {
		files[fmt.Sprintf("root-%02d.txt", i)] = fmt.Sprintf("at the root %d\n", i)
	}
	src := writeDataset(t, files)
	scanned, err := Scan(src, ScanOptions{Dataset: true})
	if err != nil {
		t.Fatal(err)
	}
	units := Units(scanned, GroupOptions{MinFiles: 10, Target: 400})
	var layers []ocispec.Descriptor
	blobs := map[digest.Digest][]byte{}
	shared, grouped := 0, 0
	paths := map[string]int{}
	for _, u := range units {
		if !u.Tar {
			data := []byte(mustRead(t, u.Files[0].Source))
			l := rawLayer(t, u.Path, data)
			blobs[l.Digest] = data
			layers = append(layers, l)
			continue
		}
		paths[u.Path]++
		grouped += len(u.Files)
		var buf bytes.Buffer
		if _, err := WriteTar(context.Background(), &buf, u); err != nil {
			t.Fatal(err)
		}
		l := TarLayer(u, digest.FromBytes(buf.Bytes()), int64(buf.Len()))
		blobs[l.Digest] = buf.Bytes()
		layers = append(layers, l)
	}
	for _, n := range paths {
		if n > 1 {
			shared++
		}
	}
	if paths[RootPath] == 0 || shared == 0 {
		t.Fatalf("want a root group and a split directory: %v", paths)
	}
	p := mustPlan(t, Limits{}, layers...)
	got, u := unpackAll(t, p, blobs)
	for p, body := range files {
		if got[p] != body {
			t.Errorf("%s: %q, want %q", p, got[p], body)
		}
	}
	tarFiles := u.TarFiles()
	if len(tarFiles) != grouped {
		t.Errorf("%d files' digests recorded from tar layers, want %d", len(tarFiles), grouped)
	}
	for name, d := range tarFiles {
		if d != digest.FromString(files[name]) {
			t.Errorf("%s: recorded %s", name, d)
		}
	}

	// The same group twice: its files would be written twice.
	var tarLayer ocispec.Descriptor
	for _, l := range layers {
		if l.MediaType != RoleDataset.RawMediaType() && l.Annotations["org.opencontainers.image.title"] == "train/c00" {
			tarLayer = l
			break
		}
	}
	p = mustPlan(t, Limits{}, tarLayer, tarLayer)
	_, staging := newStaging(t)
	u = newUnpacker(t, staging, p)
	err = u.Write(context.Background(), p.Entries[0], bytes.NewReader(blobs[tarLayer.Digest]), nil)
	if err == nil {
		err = u.Write(context.Background(), p.Entries[1], bytes.NewReader(blobs[tarLayer.Digest]), nil)
	}
	if !errors.Is(err, errdef.ErrUnsafePath) {
		t.Fatalf("a file in two groups: %v, want ErrUnsafePath", err)
	}
}

// Where one group per directory would make too many layers, files are
// grouped by a shallower ancestor: 3,000 directories of one small file
// each become groups of their parent.
func TestUnitsCoarsenToLayerBudget(t *testing.T) {
	t.Parallel()
	var files []File
	for i := range 3000 {
		files = append(files, File{Path: fmt.Sprintf("a/d%04d/f.txt", i), Size: 100, MediaType: RoleDataset.RawMediaType()})
	}
	files = append(files, File{Path: "b/x/y/z.txt", Size: 100, MediaType: RoleDataset.RawMediaType()})
	units := Units(files, GroupOptions{})
	if len(units) != 2 || units[0].Path != "a" || len(units[0].Files) != 3000 || units[1].Path != "b" {
		var paths []string
		for _, u := range units[:min(5, len(units))] {
			paths = append(paths, u.Path)
		}
		t.Fatalf("%d units, first %q", len(units), paths)
	}
	// A budget the directories fit: one group each.
	if n := len(Units(files, GroupOptions{MaxLayers: 5000})); n != 3001 {
		t.Fatalf("with room for every directory: %d units", n)
	}
	// Nothing shallower than the root: the budget is then exceeded.
	if n := len(Units(files, GroupOptions{MaxLayers: 1, Target: 1000})); n < 2 {
		t.Fatalf("at the root: %d units", n)
	}
	for _, tc := range []struct {
		dir   string
		depth int
		want  string
	}{{"a/b/c", 0, "."}, {"a/b/c", 1, "a"}, {"a/b/c", 2, "a/b"}, {"a/b/c", 3, "a/b/c"}, {"a/b/c", 9, "a/b/c"}, {".", 2, "."}} {
		if got := ancestor(tc.dir, tc.depth); got != tc.want {
			t.Errorf("ancestor(%q, %d) = %q, want %q", tc.dir, tc.depth, got, tc.want)
		}
	}
}

// TarEntries, from paths and sizes alone, locates every file in the tar
// WriteTar makes: each header where archive/tar reads it, each file's
// bytes at Data, the end marker right after the last entry. Long and
// non-ASCII names (PAX headers) and empty files included.
func TestTarEntriesLocateFiles(t *testing.T) {
	files := dataset(2, 40)
	long := "train/" + strings.Repeat("a-very-long-directory-name/", 5) + "file.txt"
	files[long] = "long name"
	files["train/c00/ünïcode.txt"] = "pax"
	files["train/c00/empty.txt"] = ""
	files["train/c00/block.bin"] = strings.Repeat("x", 1024)
	dir := writeDataset(t, files)
	scanned, err := Scan(dir, ScanOptions{Dataset: true})
	if err != nil {
		t.Fatal(err)
	}
	units := Units(scanned, GroupOptions{MinFiles: 1})
	checked := 0
	for _, u := range units {
		if !u.Tar {
			continue
		}
		var buf bytes.Buffer
		if _, err := WriteTar(context.Background(), &buf, u); err != nil {
			t.Fatal(err)
		}
		entries, err := TarEntries(u)
		if err != nil {
			t.Fatal(err)
		}
		tarBytes := buf.Bytes()
		for i, e := range entries {
			want := mustRead(t, u.Files[i].Source)
			if e.Path != u.Files[i].Path || e.Size != int64(len(want)) || string(tarBytes[e.Data:e.Data+e.Size]) != want {
				t.Fatalf("%s: entry %+v does not hold the file", u.Files[i].Path, e)
			}
			// The range from its header to its padded end is a tar of
			// that one file.
			tr := tar.NewReader(bytes.NewReader(tarBytes[e.Header:e.End()]))
			h, err := tr.Next()
			if err != nil || h.Name != e.Path {
				t.Fatalf("%s: the header at %d reads %v, %v", e.Path, e.Header, h, err)
			}
			if _, err := tr.Next(); err != io.EOF {
				t.Fatalf("%s: the range does not end after the entry: %v", e.Path, err)
			}
			checked++
		}
		if last := entries[len(entries)-1]; last.End()+1024 != int64(len(tarBytes)) {
			t.Fatalf("the last entry ends at %d; the tar is %d bytes", last.End(), len(tarBytes))
		}
	}
	if checked != len(files) {
		t.Fatalf("located %d files of %d", checked, len(files))
	}
}

// The index travels in blobs of about a mebibyte, each naming its layers
// (written as they fill);
// each layer's entries come back from its blob, and a blob that does not
// describe a layer, or entries that overlap or leave the layer, are
// refused.
func TestTarIndexBlobs(t *testing.T) {
	var groups []TarGroup
	for g := range 30 {
		var entries []TarEntry
		var off int64
		for f := range 1000 {
			e := TarEntry{Path: fmt.Sprintf("train/c%05d/%05d.bin", g, f), Header: off, Data: off + 512, Size: 100}
			entries = append(entries, e)
			off = e.End()
		}
		groups = append(groups, TarGroup{Layer: digest.FromString(fmt.Sprint(g)), Entries: entries})
	}
	var blobs [][]byte
	var layers [][]digest.Digest
	i := 0
	err := writeTarIndex(func() (TarGroup, bool, error) {
		if i == len(groups) {
			return TarGroup{}, false, nil
		}
		i++
		return groups[i-1], true, nil
	}, func(b []byte, l []digest.Digest) error {
		blobs, layers = append(blobs, b), append(layers, l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) < 2 || len(blobs) > 4 || len(blobs) != len(layers) {
		t.Fatalf("%d blobs for 30,000 entries, want a few of about 1 MiB", len(blobs))
	}
	n := 0
	for i, b := range blobs {
		if len(b) > 2<<20 {
			t.Fatalf("blob %d is %d bytes", i, len(b))
		}
		for _, d := range layers[i] {
			g := groups[n]
			if g.Layer != d {
				t.Fatalf("blob %d names %s, want %s", i, d, g.Layer)
			}
			got, err := parseEntries(b, ocispec.Descriptor{Digest: d, Size: g.Entries[len(g.Entries)-1].End() + 1024})
			if err != nil || len(got) != len(g.Entries) || got[999] != g.Entries[999] {
				t.Fatalf("layer %d from its blob: %v", n, err)
			}
			n++
		}
	}
	if n != len(groups) {
		t.Fatalf("the blobs name %d layers of %d", n, len(groups))
	}
	if _, err := parseEntries(blobs[0], ocispec.Descriptor{Digest: digest.FromString("other"), Size: 1 << 30}); err == nil {
		t.Fatal("a layer the blob does not describe was read")
	}
	// The layer is shorter than its entries say.
	if _, err := parseEntries(blobs[0], ocispec.Descriptor{Digest: groups[0].Layer, Size: 4096}); err == nil {
		t.Fatal("entries past the layer's end were read")
	}
	// Overlapping entries.
	bad := groups[0]
	bad.Entries = slices.Clone(bad.Entries)
	bad.Entries[5].Data = bad.Entries[4].Data
	b, _ := EncodeTarIndex([]TarGroup{bad})
	if _, err := parseEntries(b, ocispec.Descriptor{Digest: bad.Layer, Size: 1 << 30}); err == nil {
		t.Fatal("overlapping entries were read")
	}
}

// parseEntries decodes an index blob and takes layer's entries from it.
func parseEntries(blob []byte, layer ocispec.Descriptor) ([]TarEntry, error) {
	x, err := ParseTarIndex(blob)
	if err != nil {
		return nil, err
	}
	return x.Entries(layer)
}
