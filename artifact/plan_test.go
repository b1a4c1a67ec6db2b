package artifact

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/errdef"
)

const (
	orasConfigType = "application/vnd.oci.empty.v1+json"
	ociLayerTar    = "application/vnd.oci.image.layer.v1.tar"
	ociLayerTgz    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// orasLayer describes data as oras push would for a file called title.
func orasLayer(title, mt string, data []byte, annotations ...string) ocispec.Descriptor {
	d := ocispec.Descriptor{
		MediaType:   mt,
		Digest:      digest.FromBytes(data),
		Size:        int64(len(data)),
		Annotations: map[string]string{ocispec.AnnotationTitle: title},
	}
	for i := 0; i+1 < len(annotations); i += 2 {
		d.Annotations[annotations[i]] = annotations[i+1]
	}
	return d
}

func orasManifest(t testing.TB, layers ...ocispec.Descriptor) []byte {
	t.Helper()
	return marshalManifest(t, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.thing",
		Config:       ocispec.Descriptor{MediaType: orasConfigType, Digest: digest.FromString("{}"), Size: 2},
		Layers:       layers,
	})
}

// wantEntry is what a test expects of one plan entry.
type wantEntry struct {
	Path         string
	Format       Format
	Mode         fs.FileMode
	DeclaredSize int64
}

func TestParseManifest(t *testing.T) {
	t.Parallel()
	w1, w2 := []byte("weights one"), []byte("weights two")
	tgz := []byte("pretend tar+gzip")

	withMeta := func(d ocispec.Descriptor, key, value string) ocispec.Descriptor {
		d.Annotations = maps(d.Annotations)
		d.Annotations[key] = value
		return d
	}
	without := func(d ocispec.Descriptor, keys ...string) ocispec.Descriptor {
		d.Annotations = maps(d.Annotations)
		for _, k := range keys {
			delete(d.Annotations, k)
		}
		return d
	}
	mutate := func(data []byte, f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tooMany := make([]ocispec.Descriptor, 4)
	for i := range tooMany {
		tooMany[i] = rawLayer(t, fmt.Sprintf("w%d.bin", i), []byte{byte(i)})
	}
	legacy := func() []byte {
		l := ocispec.Descriptor{
			MediaType: "application/vnd.cnai.model.weight.v1.raw",
			Digest:    digest.FromBytes(w1),
			Size:      int64(len(w1)),
			Annotations: map[string]string{
				"org.cnai.model.filepath":           "weights/w1.bin",
				"org.cnai.model.file.metadata+json": metadata(t, "w1.bin", 0o600, int64(len(w1))),
			},
		}
		return marshalManifest(t, ocispec.Manifest{
			Versioned:    specs.Versioned{SchemaVersion: 2},
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: "application/vnd.cnai.model.manifest.v1+json",
			Config:       ocispec.Descriptor{MediaType: "application/vnd.cnai.model.config.v1+json", Digest: digest.FromString("{}"), Size: 2},
			Layers:       []ocispec.Descriptor{l},
		})
	}()

	valid := []struct {
		name   string
		data   []byte
		limits Limits
		kind   Kind
		want   []wantEntry
	}{
		{
			name: "ModelPack raw layers",
			data: modelManifest(t, rawLayer(t, "w1.bin", w1), mpLayer(t, modelspec.MediaTypeModelCodeRaw, "src/run.sh", w2, 0o755, int64(len(w2)))),
			kind: KindModelPack,
			want: []wantEntry{{"w1.bin", FormatRaw, 0o644, int64(len(w1))}, {"src/run.sh", FormatRaw, 0o755, int64(len(w2))}},
		},
		{
			name: "ModelPack tar layers",
			data: modelManifest(t,
				mpLayer(t, modelspec.MediaTypeModelWeightGzip, "weights", tgz, 0o755, -1),
				mpLayer(t, modelspec.MediaTypeModelDocZstd, "docs", tgz, 0, -1),
				mpLayer(t, modelspec.MediaTypeModelCode, "code", tgz, 0, -1),
				// A declared size of a single-file tar layer bounds its expansion.
				mpLayer(t, modelspec.MediaTypeModelWeightGzip, "big.bin", tgz, 0o644, 1<<30),
			),
			kind: KindModelPack,
			want: []wantEntry{
				{"weights", FormatTarGzip, 0o644, -1}, {"docs", FormatTarZstd, 0o644, -1},
				{"code", FormatTar, 0o644, -1}, {"big.bin", FormatTarGzip, 0o644, 1 << 30},
			},
		},
		{
			name: "ModelPack directory metadata declares no file size",
			data: modelManifest(t, withMeta(mpLayer(t, modelspec.MediaTypeModelWeightGzip, "dir", tgz, 0, -1),
				modelspec.AnnotationFileMetadata, `{"name":"dir","mode":493,"size":4096,"typeflag":53}`)),
			kind: KindModelPack,
			want: []wantEntry{{"dir", FormatTarGzip, 0o755, -1}},
		},
		{
			name: "ModelPack path from title when filepath is missing",
			data: modelManifest(t, withMeta(without(rawLayer(t, "w1.bin", w1), modelspec.AnnotationFilepath), ocispec.AnnotationTitle, "from-title.bin")),
			kind: KindModelPack,
			want: []wantEntry{{"from-title.bin", FormatRaw, 0o644, int64(len(w1))}},
		},
		{
			name: "ModelPack path is cleaned",
			data: modelManifest(t, rawLayer(t, "./a/w1.bin", w1)),
			kind: KindModelPack,
			want: []wantEntry{{"a/w1.bin", FormatRaw, 0o644, int64(len(w1))}},
		},
		{
			name: "ModelPack without metadata",
			data: modelManifest(t, mpLayer(t, modelspec.MediaTypeModelWeightRaw, "w1.bin", w1, 0, -1)),
			kind: KindModelPack,
			want: []wantEntry{{"w1.bin", FormatRaw, 0o644, -1}},
		},
		{
			name: "ModelPack metadata mode keeps only permission bits",
			data: modelManifest(t, mpLayer(t, modelspec.MediaTypeModelWeightRaw, "w1.bin", w1, 0o4777|uint32(fs.ModeSetuid), int64(len(w1)))),
			kind: KindModelPack,
			want: []wantEntry{{"w1.bin", FormatRaw, 0o777, int64(len(w1))}},
		},
		{
			name: "ModelPack by config media type only",
			data: mutate(modelManifest(t, rawLayer(t, "w1.bin", w1)), func(m map[string]any) { delete(m, "artifactType") }),
			kind: KindModelPack,
			want: []wantEntry{{"w1.bin", FormatRaw, 0o644, int64(len(w1))}},
		},
		{
			name: "manifest without mediaType field",
			data: mutate(modelManifest(t, rawLayer(t, "w1.bin", w1)), func(m map[string]any) { delete(m, "mediaType") }),
			kind: KindModelPack,
			want: []wantEntry{{"w1.bin", FormatRaw, 0o644, int64(len(w1))}},
		},
		{
			name: "legacy org.cnai names",
			data: legacy,
			kind: KindModelPackLegacy,
			want: []wantEntry{{"weights/w1.bin", FormatRaw, 0o600, int64(len(w1))}},
		},
		{
			name: "plain ORAS files",
			data: orasManifest(t, orasLayer("model.bin", ociLayerTar, w1), orasLayer("sub/README", "text/plain", w2)),
			kind: KindORAS,
			want: []wantEntry{{"model.bin", FormatRaw, 0o644, -1}, {"sub/README", FormatRaw, 0o644, -1}},
		},
		{
			name: "ORAS directory",
			data: orasManifest(t, orasLayer("model", ociLayerTgz, tgz, "io.deis.oras.content.unpack", "true", "io.deis.oras.content.digest", digest.FromString("x").String())),
			kind: KindORAS,
			want: []wantEntry{{"model", FormatTarGzip, 0o644, -1}},
		},
		{
			name: "ORAS directory beside a file inside it",
			data: orasManifest(t, orasLayer("model/extra.bin", ociLayerTar, w1), orasLayer("model", ociLayerTgz, tgz, "io.deis.oras.content.unpack", "true")),
			kind: KindORAS,
			want: []wantEntry{{"model/extra.bin", FormatRaw, 0o644, -1}, {"model", FormatTarGzip, 0o644, -1}},
		},
		{
			name: "ORAS unpack annotation must be exactly true",
			data: orasManifest(t, orasLayer("model.tgz", ociLayerTgz, tgz, "io.deis.oras.content.unpack", "false")),
			kind: KindORAS,
			want: []wantEntry{{"model.tgz", FormatRaw, 0o644, -1}},
		},
		{
			name:   "exactly MaxLayers",
			data:   modelManifest(t, tooMany[:3]...),
			limits: Limits{MaxLayers: 3},
			kind:   KindModelPack,
			want: []wantEntry{
				{"w0.bin", FormatRaw, 0o644, 1}, {"w1.bin", FormatRaw, 0o644, 1}, {"w2.bin", FormatRaw, 0o644, 1},
			},
		},
		{
			name:   "exactly MaxLayerSize",
			data:   modelManifest(t, rawLayer(t, "w1.bin", w1)),
			limits: Limits{MaxLayerSize: int64(len(w1))},
			kind:   KindModelPack,
			want:   []wantEntry{{"w1.bin", FormatRaw, 0o644, int64(len(w1))}},
		},
		{
			name: "empty file",
			data: modelManifest(t, rawLayer(t, "empty", nil)),
			kind: KindModelPack,
			want: []wantEntry{{"empty", FormatRaw, 0o644, 0}},
		},
	}
	for _, tc := range valid {
		p, err := ParseManifest(tc.data, tc.limits)
		if err != nil {
			t.Errorf("%s: ParseManifest: %v", tc.name, err)
			continue
		}
		if p.Kind != tc.kind {
			t.Errorf("%s: kind %q, want %q", tc.name, p.Kind, tc.kind)
		}
		var got []wantEntry
		for i, e := range p.Entries {
			got = append(got, wantEntry{e.Path, e.Format, e.Mode, e.DeclaredSize})
			if e.Layer.Digest != p.Manifest.Layers[i].Digest || e.Layer.Size != p.Manifest.Layers[i].Size {
				t.Errorf("%s: entry %d layer %+v is not manifest layer %d", tc.name, i, e.Layer, i)
			}
			if e.DiffID != "" {
				t.Errorf("%s: entry %d has a diff ID before ApplyConfig", tc.name, i)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: entries\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}

	sha256Layer := rawLayer(t, "w1.bin", w1)
	refused := []struct {
		name   string
		data   []byte
		limits Limits
		want   error
	}{
		{"not JSON", []byte("not json"), Limits{}, ErrNotModel},
		{"empty", nil, Limits{}, ErrNotModel},
		{"JSON array", []byte("[]"), Limits{}, ErrNotModel},
		{"index", marshalManifest(t, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Layers: []ocispec.Descriptor{sha256Layer}}), Limits{}, ErrNotModel},
		{"docker manifest", mutate(modelManifest(t, sha256Layer), func(m map[string]any) {
			m["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json"
		}), Limits{}, ErrNotModel},
		{"no media type, no schema version", mutate(modelManifest(t, sha256Layer), func(m map[string]any) {
			delete(m, "mediaType")
			delete(m, "schemaVersion")
		}), Limits{}, ErrNotModel},
		{"no layers", modelManifest(t), Limits{}, ErrNotModel},
		{"file path with a trailing slash", modelManifest(t, mpLayer(t, modelspec.MediaTypeModelWeightRaw, "w.bin/", w1, 0, -1)), Limits{}, errdef.ErrUnsafePath},
		{"too many layers", modelManifest(t, tooMany...), Limits{MaxLayers: 3}, errdef.ErrLimit},
		{"negative size", modelManifest(t, func() ocispec.Descriptor {
			d := mpLayer(t, modelspec.MediaTypeModelWeightRaw, "w", w1, 0, -1)
			d.Size = -1
			return d
		}()), Limits{}, errdef.ErrLimit},
		{"oversized", modelManifest(t, rawLayer(t, "w1.bin", w1)), Limits{MaxLayerSize: int64(len(w1)) - 1}, errdef.ErrLimit},
		{"over the default size cap", modelManifest(t, func() ocispec.Descriptor {
			d := mpLayer(t, modelspec.MediaTypeModelWeightRaw, "w", w1, 0, -1)
			d.Size = 1<<40 + 1
			return d
		}()), Limits{}, errdef.ErrLimit},
		{"bad digest", modelManifest(t, func() ocispec.Descriptor {
			d := sha256Layer
			d.Digest = "sha256:xyz"
			return d
		}()), Limits{}, ErrNotModel},
		{"upper-case digest", modelManifest(t, func() ocispec.Descriptor {
			d := sha256Layer
			d.Digest = digest.Digest(strings.ToUpper(string(d.Digest)))
			return d
		}()), Limits{}, ErrNotModel},
		{"empty digest", modelManifest(t, func() ocispec.Descriptor {
			d := sha256Layer
			d.Digest = ""
			return d
		}()), Limits{}, ErrNotModel},
		{"unaccepted digest algorithm", modelManifest(t, func() ocispec.Descriptor {
			d := sha256Layer
			d.Digest = digest.Digest("md5:" + strings.Repeat("a", 32))
			return d
		}()), Limits{}, ErrNotModel},
		{"escaping path", modelManifest(t, rawLayer(t, "../escape", w1)), Limits{}, errdef.ErrUnsafePath},
		{"escaping path in the middle", modelManifest(t, rawLayer(t, "a/../../escape", w1)), Limits{}, errdef.ErrUnsafePath},
		{"absolute path", modelManifest(t, rawLayer(t, "/etc/passwd", w1)), Limits{}, errdef.ErrUnsafePath},
		{"backslash path", modelManifest(t, rawLayer(t, `..\escape`, w1)), Limits{}, errdef.ErrUnsafePath},
		{"escaping title of ORAS file", orasManifest(t, orasLayer("../escape", ociLayerTar, w1)), Limits{}, errdef.ErrUnsafePath},
		{"escaping title of ORAS directory", orasManifest(t, orasLayer("/abs", ociLayerTgz, tgz, "io.deis.oras.content.unpack", "true")), Limits{}, errdef.ErrUnsafePath},
		{"escaping legacy path", bytesReplace(legacy, "weights/w1.bin", "../w1.bin"), Limits{}, errdef.ErrUnsafePath},
		{"tar layer with escaping path", modelManifest(t, mpLayer(t, modelspec.MediaTypeModelWeightGzip, "../x", tgz, 0, -1)), Limits{}, errdef.ErrUnsafePath},
		{"duplicate paths", modelManifest(t, rawLayer(t, "w.bin", w1), rawLayer(t, "w.bin", w2)), Limits{}, errdef.ErrUnsafePath},
		{"duplicate paths after cleaning", modelManifest(t, rawLayer(t, "w.bin", w1), rawLayer(t, "./w.bin", w2)), Limits{}, errdef.ErrUnsafePath},
		{"duplicate ORAS titles", orasManifest(t, orasLayer("w.bin", ociLayerTar, w1), orasLayer("w.bin", ociLayerTar, w2)), Limits{}, errdef.ErrUnsafePath},
		{"file then file below it", modelManifest(t, rawLayer(t, "a", w1), rawLayer(t, "a/b", w2)), Limits{}, errdef.ErrUnsafePath},
		{"file below then file", modelManifest(t, rawLayer(t, "a/b", w1), rawLayer(t, "a", w2)), Limits{}, errdef.ErrUnsafePath},
		{"raw file and tar layer at one path", modelManifest(t, rawLayer(t, "a", w1), mpLayer(t, modelspec.MediaTypeModelWeightGzip, "a", tgz, 0, -1)), Limits{}, errdef.ErrUnsafePath},
		{"missing path annotation", modelManifest(t, without(rawLayer(t, "w1.bin", w1), modelspec.AnnotationFilepath)), Limits{}, errdef.ErrUnsafePath},
		{"blank path annotation", modelManifest(t, withMeta(rawLayer(t, "w1.bin", w1), modelspec.AnnotationFilepath, "  ")), Limits{}, errdef.ErrUnsafePath},
		{"ORAS layer without title", orasManifest(t, orasLayer("a", ociLayerTar, w1), without(orasLayer("b", ociLayerTar, w2), ocispec.AnnotationTitle)), Limits{}, ErrNotModel},
		{"image, not a model", marshalManifest(t, ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("{}"), Size: 2},
			Layers:    []ocispec.Descriptor{{MediaType: ociLayerTgz, Digest: digest.FromBytes(tgz), Size: int64(len(tgz))}},
		}), Limits{}, ErrNotModel},
		{"metadata size differs from raw layer size", modelManifest(t, mpLayer(t, modelspec.MediaTypeModelWeightRaw, "w1.bin", w1, 0o644, int64(len(w1))+1)), Limits{}, errdef.ErrSizeMismatch},
		{"metadata size negative", modelManifest(t, withMeta(mpLayer(t, modelspec.MediaTypeModelWeightGzip, "w1.bin", tgz, 0, -1),
			modelspec.AnnotationFileMetadata, `{"name":"w1.bin","size":-5,"typeflag":48}`)), Limits{}, errdef.ErrSizeMismatch},
		{"metadata not JSON", modelManifest(t, withMeta(rawLayer(t, "w1.bin", w1), modelspec.AnnotationFileMetadata, "{")), Limits{}, ErrNotModel},
		{"metadata wrong type", modelManifest(t, withMeta(rawLayer(t, "w1.bin", w1), modelspec.AnnotationFileMetadata, `{"size":"12"}`)), Limits{}, ErrNotModel},
		{"metadata too large", modelManifest(t, withMeta(rawLayer(t, "w1.bin", w1), modelspec.AnnotationFileMetadata, `{"name":"`+strings.Repeat("x", 64<<10)+`"}`)), Limits{}, errdef.ErrLimit},
		{"unknown ModelPack layer media type", modelManifest(t, mpLayer(t, "application/vnd.cncf.model.weight.v1.zip", "w1.bin", w1, 0, -1)), Limits{}, ErrNotModel},
		{"OCI layer in a ModelPack manifest", modelManifest(t, mpLayer(t, ociLayerTar, "w1.bin", w1, 0, -1)), Limits{}, ErrNotModel},
	}
	for _, tc := range refused {
		p, err := ParseManifest(tc.data, tc.limits)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseManifest error = %v (plan: %v); want %v", tc.name, err, p != nil, tc.want)
		}
		if err != nil && p != nil {
			t.Errorf("%s: ParseManifest returned a plan with an error", tc.name)
		}
	}
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func bytesReplace(b []byte, old, new string) []byte {
	if !strings.Contains(string(b), old) {
		panic("bytesReplace: " + old + " not found")
	}
	return []byte(strings.Replace(string(b), old, new, 1))
}

func TestParseManifestSHA512(t *testing.T) {
	t.Parallel()
	data := []byte("weights")
	d := rawLayer(t, "w.bin", data)
	d.Digest = digest.SHA512.FromBytes(data)
	p, err := ParseManifest(modelManifest(t, d), Limits{})
	if err != nil {
		t.Fatalf("a sha512 layer digest is documented as accepted: %v", err)
	}
	if p.Entries[0].Layer.Digest != d.Digest {
		t.Errorf("entry digest %s", p.Entries[0].Layer.Digest)
	}
}

func TestPlanFiles(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, Limits{},
		rawLayer(t, "w.bin", []byte("w")),
		mpLayer(t, modelspec.MediaTypeModelDocGzip, "docs", []byte("x"), 0, -1),
	)
	if got, want := p.Files(), []string{"w.bin", "docs (tar+gzip)"}; !slices.Equal(got, want) {
		t.Errorf("Files() = %q, want %q", got, want)
	}
}

func modelConfig(t testing.TB, diffIDs ...digest.Digest) []byte {
	t.Helper()
	b, err := json.Marshal(modelspec.Model{ModelFS: modelspec.ModelFS{Type: "layers", DiffIDs: diffIDs}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestApplyConfig(t *testing.T) {
	t.Parallel()
	w := []byte("weights")
	tgz := gzipBytes(t, makeTar(t, reg("docs/README", "hi")))
	tarBlob := makeTar(t, reg("code/run.py", "print()"))
	raw := rawLayer(t, "w.bin", w)
	gz := mpLayer(t, modelspec.MediaTypeModelDocGzip, "docs", tgz, 0, -1)
	tr := mpLayer(t, modelspec.MediaTypeModelCode, "code", tarBlob, 0, -1)
	diffGz := digest.FromBytes(makeTar(t, reg("docs/README", "hi")))
	other := digest.FromString("something else")

	newPlan := func() *Plan { return mustPlan(t, Limits{}, raw, gz, tr) }

	t.Run("matching", func(t *testing.T) {
		p := newPlan()
		m, err := p.ApplyConfig(modelConfig(t, raw.Digest, diffGz, tr.Digest))
		if err != nil {
			t.Fatal(err)
		}
		if m == nil || len(m.ModelFS.DiffIDs) != 3 {
			t.Fatalf("ApplyConfig returned %+v", m)
		}
		want := []digest.Digest{raw.Digest, diffGz, tr.Digest}
		for i, e := range p.Entries {
			if e.DiffID != want[i] {
				t.Errorf("entry %d DiffID %s, want %s", i, e.DiffID, want[i])
			}
		}
	})
	t.Run("no diff IDs", func(t *testing.T) {
		p := newPlan()
		if _, err := p.ApplyConfig(modelConfig(t)); err != nil {
			t.Fatal(err)
		}
		for i, e := range p.Entries {
			if e.DiffID != "" {
				t.Errorf("entry %d DiffID %s, want none", i, e.DiffID)
			}
		}
	})
	refused := []struct {
		name string
		data []byte
		want error
	}{
		{"too few diff IDs", modelConfig(t, raw.Digest, diffGz), ErrNotModel},
		{"too many diff IDs", modelConfig(t, raw.Digest, diffGz, tr.Digest, tr.Digest), ErrNotModel},
		{"raw diff ID differs from layer digest", modelConfig(t, other, diffGz, tr.Digest), errdef.ErrDigestMismatch},
		{"tar diff ID differs from layer digest", modelConfig(t, raw.Digest, diffGz, other), errdef.ErrDigestMismatch},
		{"invalid diff ID", modelConfig(t, raw.Digest, "sha256:nope", tr.Digest), ErrNotModel},
		{"not JSON", []byte("{"), ErrNotModel},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlan()
			if _, err := p.ApplyConfig(tc.data); !errors.Is(err, tc.want) {
				t.Errorf("ApplyConfig = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("ORAS config ignored", func(t *testing.T) {
		p, err := ParseManifest(orasManifest(t, orasLayer("w.bin", ociLayerTar, w)), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := p.ApplyConfig([]byte("not even JSON")); m != nil || err != nil {
			t.Errorf("ApplyConfig on an ORAS plan = %v, %v; want nil, nil", m, err)
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	w := []byte("w")
	var seeds [][]byte
	add := func(m ocispec.Manifest) {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	meta, _ := json.Marshal(modelspec.FileMetadata{Name: "w", Mode: 0o755, Size: 1, Typeflag: '0'})
	mp := func(mt, p string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(w), Size: 1, Annotations: map[string]string{
			modelspec.AnnotationFilepath: p, modelspec.AnnotationFileMetadata: string(meta),
		}}
	}
	base := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: modelspec.ArtifactTypeModelManifest, Config: emptyConfig,
	}
	for _, layers := range [][]ocispec.Descriptor{
		{mp(modelspec.MediaTypeModelWeightRaw, "w.bin")},
		{mp(modelspec.MediaTypeModelWeightRaw, "a"), mp(modelspec.MediaTypeModelWeightRaw, "a/b")},
		{mp(modelspec.MediaTypeModelWeightGzip, "dir"), mp(modelspec.MediaTypeModelWeightRaw, "dir/x")},
		{mp(modelspec.MediaTypeModelWeightZstd, "./d/"), mp(modelspec.MediaTypeModelDoc, "../x")},
		{mp(modelspec.MediaTypeModelWeightRaw, "w"), mp(modelspec.MediaTypeModelWeightRaw, "./w")},
	} {
		m := base
		m.Layers = layers
		add(m)
	}
	legacy := base
	legacy.ArtifactType = legacyArtifactType
	legacy.Layers = []ocispec.Descriptor{{MediaType: "application/vnd.cnai.model.weight.v1.raw", Digest: digest.FromBytes(w), Size: 1,
		Annotations: map[string]string{legacyAnnotPath: "x/y", legacyAnnotMetadata: `{"size":1,"mode":420}`}}}
	add(legacy)
	oras := base
	oras.ArtifactType = "application/vnd.example"
	oras.Config = ocispec.Descriptor{MediaType: orasConfigType, Digest: digest.FromString("{}"), Size: 2}
	oras.Layers = []ocispec.Descriptor{
		{MediaType: ociLayerTar, Digest: digest.FromBytes(w), Size: 1, Annotations: map[string]string{ocispec.AnnotationTitle: "f"}},
		{MediaType: ociLayerTgz, Digest: digest.FromBytes(w), Size: 1, Annotations: map[string]string{ocispec.AnnotationTitle: "d", orasUnpackAnnotation: "true"}},
	}
	add(oras)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"x"},"layers":[{"digest":"sha256:` + strings.Repeat("0", 64) + `","size":-1}]}`))
	f.Add([]byte(`{"mediaType":"application/vnd.oci.image.index.v1+json"}`))
	f.Add([]byte(`null`))

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseManifest(data, Limits{MaxLayers: 64})
		if err != nil {
			if p != nil {
				t.Fatal("plan returned with an error")
			}
			return
		}
		if len(p.Entries) == 0 || len(p.Entries) != len(p.Manifest.Layers) || len(p.Entries) > 64 {
			t.Fatalf("%d entries for %d layers", len(p.Entries), len(p.Manifest.Layers))
		}
		seen := map[string]bool{}
		for _, e := range p.Entries {
			clean, err := CleanPath(e.Path)
			if err != nil || clean != e.Path {
				t.Fatalf("accepted path %q: CleanPath gives %q, %v", e.Path, clean, err)
			}
			if seen[e.Path] {
				t.Fatalf("accepted duplicate path %q", e.Path)
			}
			seen[e.Path] = true
			if e.Layer.Size < 0 || e.Layer.Size > (Limits{}).maxLayerSize() {
				t.Fatalf("accepted size %d", e.Layer.Size)
			}
			if err := e.Layer.Digest.Validate(); err != nil {
				t.Fatalf("accepted digest %q: %v", e.Layer.Digest, err)
			}
			if e.Format == FormatRaw && e.DeclaredSize >= 0 && e.DeclaredSize != e.Layer.Size {
				t.Fatalf("raw entry declares %d bytes for a %d-byte layer", e.DeclaredSize, e.Layer.Size)
			}
			if e.Mode&^fs.ModePerm != 0 || e.Mode == 0 {
				t.Fatalf("entry mode %v", e.Mode)
			}
		}
		// No raw file may sit where another entry needs a directory.
		for _, e := range p.Entries {
			for d := parentDir(e.Path); d != ""; d = parentDir(d) {
				if other, ok := findEntry(p, d); ok && other.Format == FormatRaw {
					t.Fatalf("raw file %q is a parent of %q", d, e.Path)
				}
			}
		}
		_ = p.Files()
		_, _ = p.ApplyConfig(data)
	})
}

func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

func findEntry(p *Plan, path string) (Entry, bool) {
	for _, e := range p.Entries {
		if e.Path == path {
			return e, true
		}
	}
	return Entry{}, false
}
