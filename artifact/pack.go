package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/internal/iox"
)

// Info is what the packer cannot read from the files: it goes into the
// ModelPack config's descriptor.
type Info struct {
	Name        string
	Version     string
	Authors     []string
	Licenses    []string
	Description string
}

// HashFile streams f.Source through sha256 and returns its digest. It fails
// if the file's size changed since it was scanned, since the manifest would
// then describe a file that no longer exists.
func HashFile(ctx context.Context, f File, progress func(n int64)) (digest.Digest, error) {
	fh, err := os.Open(f.Source)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	buf := copyBuffers.Get().(*[]byte) // 1 MiB reads: fewer system calls than 32 KiB
	n, err := io.CopyBuffer(h, &iox.ContextReader{Ctx: ctx, R: iox.Counting(fh, progress)}, *buf)
	copyBuffers.Put(buf)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", f.Path, err)
	}
	if n != f.Size {
		return "", fmt.Errorf("hash %s: file changed while packing (size %d, now %d)", f.Path, f.Size, n)
	}
	return digest.NewDigest(digest.SHA256, h), nil
}

// Layer returns the descriptor of the raw layer that carries f, whose
// content has digest d.
func Layer(f File, d digest.Digest) ocispec.Descriptor {
	meta, _ := json.Marshal(modelspec.FileMetadata{
		Name:     path.Base(f.Path),
		Mode:     uint32(f.Mode.Perm()),
		Size:     f.Size,
		Typeflag: '0', // tar.TypeReg: a regular file
		// No uid, gid or mtime: packing must be reproducible.
	})
	return ocispec.Descriptor{
		MediaType:   f.MediaType,
		Digest:      d,
		Size:        f.Size,
		Annotations: pathAnnotations(f.Path, string(meta)),
	}
}

// pathAnnotations name a layer's path the ways runtimes look for it:
// ModelPack's filepath, the title (CRI-O mounts an image volume's layers
// as files named by it), and the older org.cnai filepath that CRI-O read
// before ModelPack moved to the CNCF.
func pathAnnotations(p, meta string) map[string]string {
	return map[string]string{
		modelspec.AnnotationFilepath:     p,
		modelspec.AnnotationFileMetadata: meta,
		ocispec.AnnotationTitle:          p,
		legacyAnnotPath:                  p,
	}
}

// maxConfigJSON caps the config.json read for model metadata.
const maxConfigJSON = 1 << 20

// Config builds the ModelPack config for raw layers. Model facts it can read
// safely from dir (format from file names; family, precision and
// quantization from a Hugging Face config.json) fill what Info leaves out.
func Config(dir string, layers []ocispec.Descriptor, info Info) ([]byte, ocispec.Descriptor, error) {
	m := modelspec.Model{
		Descriptor: modelspec.ModelDescriptor{
			Name:        info.Name,
			Version:     info.Version,
			Authors:     info.Authors,
			Licenses:    info.Licenses,
			Description: info.Description,
		},
		ModelFS: modelspec.ModelFS{Type: "layers", DiffIDs: make([]digest.Digest, 0, len(layers))},
	}
	for _, l := range layers {
		// A raw layer's diff ID is its digest: it is not compressed.
		m.ModelFS.DiffIDs = append(m.ModelFS.DiffIDs, l.Digest)
		if m.Config.Format == "" {
			m.Config.Format = formatFromName(l.Annotations[modelspec.AnnotationFilepath])
		}
	}
	readHFConfig(filepath.Join(dir, "config.json"), &m)
	data, err := json.Marshal(m)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	return data, ocispec.Descriptor{
		MediaType: modelspec.MediaTypeModelConfig,
		Digest:    digest.FromBytes(data),
		Size:      int64(len(data)),
	}, nil
}

func formatFromName(p string) string {
	switch strings.ToLower(path.Ext(p)) {
	case ".safetensors":
		return "safetensors"
	case ".gguf":
		return "gguf"
	case ".onnx":
		return "onnx"
	case ".pt", ".pth", ".bin", ".ckpt":
		return "pytorch"
	case ".h5", ".pb", ".tflite":
		return "tensorflow"
	}
	return ""
}

// readHFConfig fills descriptor and config fields from a Hugging Face
// config.json when there is one. It is best effort: a missing, large or
// malformed file changes nothing.
func readHFConfig(p string, m *modelspec.Model) {
	f, err := os.Open(p)
	if err != nil {
		return
	}
	defer f.Close()
	var hf struct {
		ModelType          string   `json:"model_type"`
		Architectures      []string `json:"architectures"`
		TorchDtype         string   `json:"torch_dtype"`
		Dtype              string   `json:"dtype"`
		NumAttentionHeads  int      `json:"num_attention_heads"`
		QuantizationConfig struct {
			QuantMethod string `json:"quant_method"`
		} `json:"quantization_config"`
	}
	if err := json.NewDecoder(io.LimitReader(f, maxConfigJSON)).Decode(&hf); err != nil {
		return
	}
	m.Descriptor.Family = hf.ModelType
	if hf.NumAttentionHeads > 0 {
		m.Config.Architecture = "transformer"
	}
	dtype := hf.TorchDtype
	if dtype == "" {
		dtype = hf.Dtype
	}
	m.Config.Precision = map[string]string{
		"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "float64": "fp64", "int8": "int8",
	}[dtype]
	m.Config.Quantization = hf.QuantizationConfig.QuantMethod
}

// Manifest builds the ModelPack image manifest. Layers must already be in
// the order they should appear (Scan sorts by path); annotations are the
// user's own, and no timestamp is added, so packing is reproducible.
func Manifest(config ocispec.Descriptor, layers []ocispec.Descriptor, annotations map[string]string) ([]byte, ocispec.Descriptor, error) {
	if len(layers) == 0 {
		return nil, ocispec.Descriptor{}, fmt.Errorf("%w: a model needs at least one file", ErrNotModel)
	}
	if len(annotations) == 0 {
		annotations = nil
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: modelspec.ArtifactTypeModelManifest,
		Config:       config,
		Layers:       layers,
		Annotations:  annotations,
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	return data, ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: modelspec.ArtifactTypeModelManifest,
		Digest:       digest.FromBytes(data),
		Size:         int64(len(data)),
	}, nil
}
