package artifact

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/errdef"
)

// selectPlan is a model with raw files at several depths and one tar layer.
func selectPlan(t *testing.T, tarBlob []byte) *Plan {
	t.Helper()
	return mustPlan(t, Limits{},
		rawLayer(t, "model.safetensors", []byte("w")),
		rawLayer(t, "config.json", []byte("{}")),
		rawLayer(t, "tokenizer/tokenizer.json", []byte(`{"t":1}`)),
		rawLayer(t, "tokenizer/sub/merges.txt", []byte("a b")),
		mpLayer(t, modelspec.MediaTypeModelWeightConfigGzip, "extra", tarBlob, 0, -1),
	)
}

func TestSelect(t *testing.T) {
	t.Parallel()
	blob := gzipBytes(t, makeTar(t, reg("extra/a.json", "{}")))
	p := selectPlan(t, blob)
	tarOnly := []string{"extra"}
	for _, tc := range []struct {
		name     string
		patterns []string
		want     []string // paths of the selected entries, in manifest order
	}{
		{"base name anywhere", []string{"*.json"}, []string{"config.json", "tokenizer/tokenizer.json", "extra"}},
		// A tar layer whose directory no path glob can reach below is left
		// out (its entries all lie under its path).
		{"path glob is one level", []string{"tokenizer/*"}, []string{"tokenizer/tokenizer.json"}},
		{"path glob deeper", []string{"tokenizer/*/*"}, []string{"tokenizer/sub/merges.txt"}},
		{"path glob into the tar layer", []string{"extra/*.json"}, tarOnly},
		{"path glob naming the tar layer's directory only", []string{"extra", "config.json"}, []string{"config.json", "extra"}},
		{"path glob at the tar layer's depth", []string{"e*/a", "config.json"}, []string{"config.json", "extra"}},
		{"base name of a nested file", []string{"merges.txt"}, []string{"tokenizer/sub/merges.txt", "extra"}},
		{"path glob does not match base names", []string{"*/config.json"}, tarOnly},
		{"several patterns", []string{"model.*", "config.json"}, []string{"model.safetensors", "config.json", "extra"}},
		{"no raw match keeps the tar layer", []string{"*.bin"}, tarOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := p.Select(tc.patterns)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range s.Entries {
				got = append(got, e.Path)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Select(%q) = %q, want %q", tc.patterns, got, tc.want)
			}
			if !s.Partial() || p.Partial() {
				t.Errorf("Partial: selected %v, original %v", s.Partial(), p.Partial())
			}
			if len(p.Entries) != 5 {
				t.Errorf("Select changed the original plan: %d entries", len(p.Entries))
			}
		})
	}
}

func TestSelectKeepsDiffIDs(t *testing.T) {
	t.Parallel()
	tarBlob := makeTar(t, reg("extra/a.json", "{}"))
	blob := gzipBytes(t, tarBlob)
	p := selectPlan(t, blob)
	ids := []digest.Digest{digest.FromString("w"), digest.FromString("{}"), digest.FromString(`{"t":1}`), digest.FromString("a b"), digest.FromBytes(tarBlob)}
	if _, err := p.ApplyConfig(modelConfig(t, ids...)); err != nil {
		t.Fatal(err)
	}
	s, err := p.Select([]string{"config.json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Entries) != 2 || s.Entries[0].DiffID != ids[1] || s.Entries[1].DiffID != ids[4] {
		t.Fatalf("selected entries lost their diff IDs: %+v", s.Entries)
	}
}

func TestSelectRefused(t *testing.T) {
	t.Parallel()
	rawOnly := mustPlan(t, Limits{}, rawLayer(t, "model.safetensors", []byte("w")), rawLayer(t, "config.json", []byte("{}")))
	for _, tc := range []struct {
		name     string
		patterns []string
		want     error
	}{
		{"no match", []string{"*.bin", "tokenizer/*"}, ErrNoMatch},
		{"bad glob", []string{"*.json", "[unclosed"}, path.ErrBadPattern},
		{"empty glob", []string{""}, path.ErrBadPattern},
		{"no pattern", nil, path.ErrBadPattern},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := rawOnly.Select(tc.patterns)
			if !errors.Is(err, tc.want) || s != nil {
				t.Fatalf("Select(%q) = %v, %v; want %v", tc.patterns, s, err, tc.want)
			}
		})
	}
	if err := CheckPatterns([]string{"a/[b"}); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("CheckPatterns: %v", err)
	}
	if err := CheckPatterns(nil); err != nil {
		t.Errorf("CheckPatterns(nil): %v", err)
	}
}

// TestUnpackSelectedTar: only the selected entries of a tar layer are
// written, the rest are read (the digests still cover them) and dropped;
// a layer whose own path is selected is written whole.
func TestUnpackSelectedTar(t *testing.T) {
	t.Parallel()
	tarBlob := makeTar(t,
		dirEntry("tok/"),
		dirEntry("tok/empty/"),
		reg("tok/vocab.json", `{"a":1}`),
		reg("tok/merges.txt", "a b"),
		reg("tok/sub/special.json", `{}`),
		reg("tok/README.md", strings.Repeat("skipped ", 1000)),
	)
	all := map[string]string{
		"tok": "<dir>", "tok/empty": "<dir>", "tok/sub": "<dir>",
		"tok/vocab.json": `{"a":1}`, "tok/merges.txt": "a b", "tok/sub/special.json": "{}", "tok/README.md": strings.Repeat("skipped ", 1000),
	}
	for _, tf := range tarFormats {
		for _, tc := range []struct {
			name     string
			patterns []string
			want     map[string]string
		}{
			{"base name", []string{"*.json"}, map[string]string{"tok": "<dir>", "tok/sub": "<dir>", "tok/vocab.json": `{"a":1}`, "tok/sub/special.json": "{}"}},
			{"path", []string{"tok/*"}, map[string]string{"tok": "<dir>", "tok/vocab.json": `{"a":1}`, "tok/merges.txt": "a b", "tok/README.md": all["tok/README.md"]}},
			{"layer path selects all", []string{"tok"}, all},
			{"nothing inside", []string{"*.bin"}, map[string]string{}},
		} {
			t.Run(tf.format.String()+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				blob := tf.encode(t, tarBlob)
				p := mustPlan(t, Limits{}, mpLayer(t, tf.mediaType, "tok", blob, 0, -1), rawLayer(t, "w.bin", []byte("w")))
				if _, err := p.ApplyConfig(modelConfig(t, digest.FromBytes(tarBlob), digest.FromString("w"))); err != nil {
					t.Fatal(err)
				}
				s, err := p.Select(tc.patterns)
				if err != nil {
					t.Fatal(err)
				}
				parent, staging := newStaging(t)
				u := newUnpacker(t, staging, s)
				var seen int64
				if err := u.Write(context.Background(), s.Entries[0], bytes.NewReader(blob), func(n int64) { seen += n }); err != nil {
					t.Fatal(err)
				}
				if seen != int64(len(blob)) {
					t.Errorf("read %d of %d blob bytes", seen, len(blob))
				}
				if got := readTree(t, staging); !mapsEqual(got, tc.want) {
					t.Errorf("staging tree: got %q, want %q", keys(got), keys(tc.want))
				}
				var hashed []string
				for name := range u.TarFiles() {
					hashed = append(hashed, name)
				}
				var wantFiles []string
				for name, v := range tc.want {
					if v != "<dir>" {
						wantFiles = append(wantFiles, name)
					}
				}
				slices.Sort(hashed)
				slices.Sort(wantFiles)
				if !slices.Equal(hashed, wantFiles) {
					t.Errorf("TarFiles = %q, want %q", hashed, wantFiles)
				}
				assertContained(t, parent)
			})
		}
	}
}

// TestUnpackSelectedTarTampered: skipped entries are still covered by the
// blob digest.
func TestUnpackSelectedTarTampered(t *testing.T) {
	t.Parallel()
	tarBlob := makeTar(t, reg("tok/vocab.json", `{"a":1}`), reg("tok/other.txt", "original"))
	p := mustPlan(t, Limits{}, mpLayer(t, modelspec.MediaTypeModelWeight, "tok", tarBlob, 0, -1))
	s, err := p.Select([]string{"vocab.json"})
	if err != nil {
		t.Fatal(err)
	}
	evil := bytes.Replace(tarBlob, []byte("original"), []byte("tampered"), 1)
	_, staging := newStaging(t)
	u := newUnpacker(t, staging, s)
	if err := u.Write(context.Background(), s.Entries[0], bytes.NewReader(evil), nil); !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("tampered skipped entry: err = %v, want digest mismatch", err)
	}
}

// TestUnpackSelectedTarRefusesLinks: an entry that is not selected is
// still checked: a link refuses the layer as it would in a full pull.
func TestUnpackSelectedTarRefusesLinks(t *testing.T) {
	t.Parallel()
	link := tarFile{Hdr: tar.Header{Name: "tok/evil", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}
	tarBlob := makeTar(t, reg("tok/vocab.json", `{}`), link)
	p := mustPlan(t, Limits{}, mpLayer(t, modelspec.MediaTypeModelWeight, "tok", tarBlob, 0, -1))
	s, err := p.Select([]string{"vocab.json"})
	if err != nil {
		t.Fatal(err)
	}
	_, staging := newStaging(t)
	u := newUnpacker(t, staging, s)
	if err := u.Write(context.Background(), s.Entries[0], bytes.NewReader(tarBlob), nil); !errors.Is(err, errdef.ErrUnsupportedEntry) {
		t.Fatalf("unselected symlink: err = %v, want errdef.ErrUnsupportedEntry", err)
	}
}

func ExamplePlan_Select() {
	layer := func(p, content string) string {
		return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d,"annotations":{%q:%q}}`,
			modelspec.MediaTypeModelWeightRaw, digest.FromString(content), len(content), modelspec.AnnotationFilepath, p)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":%q,
		"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},"layers":[%s,%s,%s]}`,
		modelspec.ArtifactTypeModelManifest, digest.FromString("{}"),
		layer("model.safetensors", "w"), layer("config.json", "{}"), layer("tokenizer/vocab.json", "{}"))
	p, err := ParseManifest([]byte(manifest), Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Without a slash a glob matches the base name, with one the whole path.
	s, err := p.Select([]string{"*.json"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Files())
	s, _ = p.Select([]string{"tokenizer/*"})
	fmt.Println(s.Files())
	_, err = p.Select([]string{"*.bin"})
	fmt.Println(errors.Is(err, ErrNoMatch))
	// Output:
	// [config.json tokenizer/vocab.json]
	// [tokenizer/vocab.json]
	// true
}

// A partial pull applies the full pull's duplicate rules: a tar entry may
// not take the name of a raw file the selection left out (it would stand
// in for that signed file).
func TestSelectedTarCannotReplaceAnUnselectedRawFile(t *testing.T) {
	t.Parallel()
	tarBlob := makeTar(t, dirEntry("model/"), reg("model/notes.txt", "n"), reg("model/raw.bin", "not the signed bytes"))
	p := mustPlan(t, Limits{}, mpLayer(t, modelspec.MediaTypeModelWeight, "model", tarBlob, 0, -1), rawLayer(t, "model/raw.bin", []byte("raw")))
	if err := newUnpacker(t, t.TempDir(), p).Write(context.Background(), p.Entries[0], bytes.NewReader(tarBlob), nil); !errors.Is(err, errdef.ErrUnsafePath) {
		t.Fatalf("full pull: %v, want the duplicate refused", err)
	}
	s, err := p.Select([]string{"model"}) // the tar layer's path: all of it; raw.bin is left out
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Entries) != 1 {
		t.Fatalf("selected %d entries, want the tar layer only", len(s.Entries))
	}
	_, staging := newStaging(t)
	err = newUnpacker(t, staging, s).Write(context.Background(), s.Entries[0], bytes.NewReader(tarBlob), nil)
	if !errors.Is(err, errdef.ErrUnsafePath) {
		t.Fatalf("partial pull: %v, want the duplicate refused as in a full pull", err)
	}
	if _, err := os.Stat(filepath.Join(staging, "model", "raw.bin")); !os.IsNotExist(err) {
		t.Errorf("the tar's raw.bin was written: %v", err)
	}
}

func TestSelectionMayMatchUnder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, dir string
		want         bool
	}{
		{"train/n0007/*", "train/n0007", true},
		{"train/n0007/*", "train/n0008", false},
		{"train/*/000*.bin", "train/n0008", true},
		{"train/n0007", "train/n0007", false}, // the directory itself is no file of the layer
		{"train/n0007", "train", true},
		{"val/*", "train/n0007", false},
		{"*.bin", "train/n0007", true},
		{"x/y", RootPath, true},
	} {
		if got := (selection{{Pattern: tc.pattern}}).mayMatchUnder(tc.dir); got != tc.want {
			t.Errorf("%q under %q: %v, want %v", tc.pattern, tc.dir, got, tc.want)
		}
	}
}
