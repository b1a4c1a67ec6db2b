package artifact

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/internal/testutil"
)

// packed is everything pack produces for a directory.
type packed struct {
	layers       []ocispec.Descriptor
	config       []byte
	configDesc   ocispec.Descriptor
	manifest     []byte
	manifestDesc ocispec.Descriptor
}

// pack runs the push pipeline of the artifact package over dir.
func pack(t *testing.T, dir string, info Info, annotations map[string]string) packed {
	t.Helper()
	files, err := Scan(dir, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var p packed
	for _, f := range files {
		d, err := HashFile(context.Background(), f, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.layers = append(p.layers, Layer(f, d))
	}
	p.config, p.configDesc, err = Config(dir, p.layers, info)
	if err != nil {
		t.Fatal(err)
	}
	p.manifest, p.manifestDesc, err = Manifest(p.configDesc, p.layers, annotations)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var modelTree = map[string]string{
	"README.md":         "# tiny model\n",
	"config.json":       `{"model_type": "llama", "torch_dtype": "bfloat16", "num_attention_heads": 4, "quantization_config": {"quant_method": "awq"}}`,
	"model.safetensors": "not really safetensors, but bytes",
	"tokenizer.json":    `{"version": "1.0"}`,
	"src/modeling.py":   "import torch\n",
}

func TestPackReproducible(t *testing.T) {
	t.Parallel()
	info := Info{Name: "tiny", Version: "v1", Authors: []string{"a"}, Licenses: []string{"Apache-2.0"}}
	annotations := map[string]string{"org.opencontainers.image.source": "https://example.com/tiny"}

	dir := t.TempDir()
	testutil.WriteTree(t, dir, modelTree)
	first := pack(t, dir, info, annotations)
	again := pack(t, dir, info, annotations)
	if first.manifestDesc.Digest != again.manifestDesc.Digest {
		t.Fatalf("packing the same directory twice: %s then %s", first.manifestDesc.Digest, again.manifestDesc.Digest)
	}

	// A byte-identical copy elsewhere, written later, with other mtimes and
	// written in another order.
	copyDir := filepath.Join(t.TempDir(), "elsewhere", "model")
	names := make([]string, 0, len(modelTree))
	for n := range modelTree {
		names = append(names, n)
	}
	slices.Sort(names)
	slices.Reverse(names)
	for i, n := range names {
		testutil.WriteTree(t, copyDir, map[string]string{n: modelTree[n]})
		when := time.Date(2001, 2, 3, 4, 5, i, 0, time.UTC)
		if err := os.Chtimes(filepath.Join(copyDir, filepath.FromSlash(n)), when, when); err != nil {
			t.Fatal(err)
		}
	}
	copied := pack(t, copyDir, info, annotations)
	if first.manifestDesc.Digest != copied.manifestDesc.Digest {
		t.Fatalf("a byte-identical copy packs to %s, the original to %s\n%s\n%s",
			copied.manifestDesc.Digest, first.manifestDesc.Digest, copied.manifest, first.manifest)
	}

	// One byte more or less changes the manifest.
	changed := filepath.Join(copyDir, "model.safetensors")
	if err := os.WriteFile(changed, []byte("not really safetensors, but byteS"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := pack(t, copyDir, info, annotations).manifestDesc.Digest; d == first.manifestDesc.Digest {
		t.Fatal("changing one byte of a weight did not change the manifest digest")
	}
	// So does the mode: it is recorded in the file metadata.
	if err := os.WriteFile(changed, []byte(modelTree["model.safetensors"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := pack(t, copyDir, info, annotations).manifestDesc.Digest; d != first.manifestDesc.Digest {
		t.Fatal("restoring the byte did not restore the digest")
	}
	if err := os.Chmod(changed, 0o600); err != nil {
		t.Fatal(err)
	}
	if d := pack(t, copyDir, info, annotations).manifestDesc.Digest; d == first.manifestDesc.Digest {
		t.Fatal("changing a file's mode did not change the manifest digest")
	}
}

func TestPackShape(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteTree(t, dir, modelTree)
	info := Info{Name: "tiny", Version: "v1", Description: "a test model"}
	p := pack(t, dir, info, map[string]string{"k": "v"})

	// Descriptors match the bytes they describe.
	if p.manifestDesc.Digest != digest.FromBytes(p.manifest) || p.manifestDesc.Size != int64(len(p.manifest)) {
		t.Errorf("manifest descriptor %+v does not describe the manifest", p.manifestDesc)
	}
	if p.configDesc.Digest != digest.FromBytes(p.config) || p.configDesc.Size != int64(len(p.config)) {
		t.Errorf("config descriptor %+v does not describe the config", p.configDesc)
	}
	if p.manifestDesc.MediaType != ocispec.MediaTypeImageManifest || p.manifestDesc.ArtifactType != "application/vnd.cncf.model.manifest.v1+json" {
		t.Errorf("manifest descriptor types: %q, %q", p.manifestDesc.MediaType, p.manifestDesc.ArtifactType)
	}

	var m ocispec.Manifest
	if err := json.Unmarshal(p.manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("manifest schemaVersion %d mediaType %q", m.SchemaVersion, m.MediaType)
	}
	if m.ArtifactType != "application/vnd.cncf.model.manifest.v1+json" {
		t.Errorf("artifactType = %q", m.ArtifactType)
	}
	if m.Config.MediaType != "application/vnd.cncf.model.config.v1+json" || m.Config.Digest != p.configDesc.Digest {
		t.Errorf("config = %+v", m.Config)
	}
	if m.Annotations["k"] != "v" || len(m.Annotations) != 1 {
		t.Errorf("manifest annotations = %v, want only the user's", m.Annotations)
	}

	wantPaths := []string{"README.md", "config.json", "model.safetensors", "src/modeling.py", "tokenizer.json"}
	var gotPaths []string
	for _, l := range m.Layers {
		fp := l.Annotations["org.cncf.model.filepath"]
		gotPaths = append(gotPaths, fp)
		if l.Annotations["org.opencontainers.image.title"] != fp {
			t.Errorf("%s: title %q", fp, l.Annotations["org.opencontainers.image.title"])
		}
		content := modelTree[fp]
		if l.Digest != digest.FromString(content) || l.Size != int64(len(content)) {
			t.Errorf("%s: descriptor %s/%d does not describe the file", fp, l.Digest, l.Size)
		}
		var md modelspec.FileMetadata
		if err := json.Unmarshal([]byte(l.Annotations["org.cncf.model.file.metadata+json"]), &md); err != nil {
			t.Fatalf("%s: metadata: %v", fp, err)
		}
		want := modelspec.FileMetadata{Name: filepath.Base(fp), Mode: 0o644, Size: int64(len(content)), Typeflag: '0'}
		if md != want {
			t.Errorf("%s: metadata %+v, want %+v (no uid, gid or mtime)", fp, md, want)
		}
		if len(l.Annotations) != 4 || l.Annotations["org.cnai.model.filepath"] != fp {
			t.Errorf("%s: annotations %v, want exactly filepath, metadata, title and the older org.cnai filepath", fp, l.Annotations)
		}
	}
	if !slices.Equal(gotPaths, wantPaths) {
		t.Errorf("layer paths %q, want %q", gotPaths, wantPaths)
	}
	wantTypes := map[string]string{
		"README.md":         modelspec.MediaTypeModelDocRaw,
		"config.json":       modelspec.MediaTypeModelWeightConfigRaw,
		"model.safetensors": modelspec.MediaTypeModelWeightRaw,
		"src/modeling.py":   modelspec.MediaTypeModelCodeRaw,
		"tokenizer.json":    modelspec.MediaTypeModelWeightConfigRaw,
	}
	for _, l := range m.Layers {
		if fp := l.Annotations["org.cncf.model.filepath"]; l.MediaType != wantTypes[fp] {
			t.Errorf("%s: media type %q, want %q", fp, l.MediaType, wantTypes[fp])
		}
	}

	var cfg modelspec.Model
	if err := json.Unmarshal(p.config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ModelFS.Type != "layers" {
		t.Errorf("modelfs.type = %q", cfg.ModelFS.Type)
	}
	var layerDigests []digest.Digest
	for _, l := range m.Layers {
		layerDigests = append(layerDigests, l.Digest)
	}
	if !slices.Equal(cfg.ModelFS.DiffIDs, layerDigests) {
		t.Errorf("modelfs.diffIds = %v, want the layer digests %v", cfg.ModelFS.DiffIDs, layerDigests)
	}
	d := cfg.Descriptor
	if d.Name != "tiny" || d.Version != "v1" || d.Description != "a test model" || d.CreatedAt != nil {
		t.Errorf("descriptor = %+v", d)
	}
	if d.Family != "llama" || cfg.Config.Precision != "bf16" || cfg.Config.Format != "safetensors" ||
		cfg.Config.Architecture != "transformer" || cfg.Config.Quantization != "awq" {
		t.Errorf("family %q, config %+v; want llama, bf16, safetensors, transformer, awq", d.Family, cfg.Config)
	}
	// The raw config must round-trip: a puller checks diff IDs against it.
	plan, err := ParseManifest(p.manifest, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.ApplyConfig(p.config); err != nil {
		t.Fatalf("ApplyConfig on our own config: %v", err)
	}
}

func TestConfigHuggingFace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		hfConfig   string // "" means no config.json
		weight     string
		wantFamily string
		wantConfig modelspec.ModelConfig
	}{
		{"no config.json", "", "model.gguf", "", modelspec.ModelConfig{Format: "gguf"}},
		{"torch_dtype", `{"model_type":"mistral","torch_dtype":"float16"}`, "w.bin", "mistral", modelspec.ModelConfig{Format: "pytorch", Precision: "fp16"}},
		{"dtype fallback", `{"model_type":"qwen2","dtype":"float32"}`, "w.onnx", "qwen2", modelspec.ModelConfig{Format: "onnx", Precision: "fp32"}},
		{"unknown dtype", `{"model_type":"x","torch_dtype":"float8_e4m3"}`, "w.safetensors", "x", modelspec.ModelConfig{Format: "safetensors"}},
		{"malformed", `{"model_type": `, "w.safetensors", "", modelspec.ModelConfig{Format: "safetensors"}},
		{"not an object", `[1,2,3]`, "w.safetensors", "", modelspec.ModelConfig{Format: "safetensors"}},
		{"unknown weight format", `{}`, "w.xyz", "", modelspec.ModelConfig{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tree := map[string]string{tc.weight: "w"}
			if tc.hfConfig != "" {
				tree["config.json"] = tc.hfConfig
			}
			testutil.WriteTree(t, dir, tree)
			p := pack(t, dir, Info{}, nil)
			var cfg modelspec.Model
			if err := json.Unmarshal(p.config, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Descriptor.Family != tc.wantFamily || cfg.Config != tc.wantConfig {
				t.Errorf("family %q config %+v; want %q %+v", cfg.Descriptor.Family, cfg.Config, tc.wantFamily, tc.wantConfig)
			}
			var m map[string]any
			if err := json.Unmarshal(p.manifest, &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m["annotations"]; ok {
				t.Errorf("manifest without user annotations has an annotations field: %s", p.manifest)
			}
		})
	}
}

func TestManifestNeedsLayers(t *testing.T) {
	t.Parallel()
	if _, _, err := Manifest(emptyConfig, nil, nil); !errors.Is(err, ErrNotModel) {
		t.Errorf("Manifest(no layers) = %v, want ErrNotModel", err)
	}
}

func TestHashFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	content := make([]byte, 3<<20+17) // several reads' worth
	for i := range content {
		content[i] = byte(i * 7)
	}
	testutil.WriteTree(t, dir, map[string]string{"w.bin": string(content)})
	files, err := Scan(dir, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := files[0]
	var seen int64
	d, err := HashFile(context.Background(), f, func(n int64) { seen += n })
	if err != nil {
		t.Fatal(err)
	}
	if d != digest.FromBytes(content) {
		t.Errorf("HashFile = %s, want %s", d, digest.FromBytes(content))
	}
	if seen != int64(len(content)) {
		t.Errorf("progress saw %d bytes, want %d", seen, len(content))
	}

	changedAfterScan := func(t *testing.T, change func(path string) error) {
		t.Helper()
		dir := t.TempDir()
		testutil.WriteTree(t, dir, map[string]string{"w.bin": "0123456789"})
		files, err := Scan(dir, ScanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := change(files[0].Source); err != nil {
			t.Fatal(err)
		}
		if d, err := HashFile(context.Background(), files[0], nil); err == nil {
			t.Errorf("HashFile of a file changed since the scan = %s, want an error", d)
		}
	}
	t.Run("grown after scan", func(t *testing.T) {
		changedAfterScan(t, func(p string) error { return os.WriteFile(p, []byte("0123456789A"), 0o644) })
	})
	t.Run("shrunk after scan", func(t *testing.T) {
		changedAfterScan(t, func(p string) error { return os.Truncate(p, 3) })
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := HashFile(ctx, f, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("HashFile with a cancelled context = %v, want context.Canceled", err)
		}
	})
	t.Run("cancelled midway", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var read int64
		_, err := HashFile(ctx, f, func(n int64) {
			if read += n; read > 1<<20 {
				cancel()
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("HashFile cancelled midway = %v, want context.Canceled", err)
		}
	})
	t.Run("removed", func(t *testing.T) {
		g := f
		g.Source = filepath.Join(dir, "gone")
		if _, err := HashFile(context.Background(), g, nil); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("HashFile of a removed file = %v, want os.ErrNotExist", err)
		}
	})
}

// A layer names its path as ModelPack does, as CRI-O mounts image volumes
// (the title) and as CRI-O did before (org.cnai): raw files and tar groups.
func TestLayerPathAnnotations(t *testing.T) {
	t.Parallel()
	raw := Layer(File{Path: "sub/model.safetensors", Size: 3, Mode: 0o644, MediaType: RoleWeight.RawMediaType()}, digest.FromString("abc"))
	group := TarLayer(Unit{Path: "train/c01", MediaType: TarMediaType(RoleDataset.RawMediaType()), Tar: true}, digest.FromString("tar"), 2048)
	for want, l := range map[string]ocispec.Descriptor{"sub/model.safetensors": raw, "train/c01": group} {
		for _, k := range []string{"org.cncf.model.filepath", "org.opencontainers.image.title", "org.cnai.model.filepath"} {
			if l.Annotations[k] != want {
				t.Errorf("%s: %s = %q", want, k, l.Annotations[k])
			}
		}
	}
}
