package artifact_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/errdef"
)

func ExampleCleanPath() {
	for _, p := range []string{"./weights/model.safetensors", "tokenizer/", "../etc/passwd", "/abs", "a/../b", `C:\x`} {
		clean, err := artifact.CleanPath(p)
		if errors.Is(err, errdef.ErrUnsafePath) {
			fmt.Printf("%-30q refused\n", p)
			continue
		}
		fmt.Printf("%-30q -> %q\n", p, clean)
	}
	// Output:
	// "./weights/model.safetensors"  -> "weights/model.safetensors"
	// "tokenizer/"                   -> "tokenizer"
	// "../etc/passwd"                refused
	// "/abs"                         refused
	// "a/../b"                       refused
	// "C:\\x"                        refused
}

func ExampleDefaultRole() {
	for _, p := range []string{"README.md", "config.json", "model.safetensors", "scripts/convert.py", "train.csv"} {
		fmt.Println(p, artifact.DefaultRole(p, false).RawMediaType())
	}
	// Output:
	// README.md application/vnd.cncf.model.doc.v1.raw
	// config.json application/vnd.cncf.model.weight.config.v1.raw
	// model.safetensors application/vnd.cncf.model.weight.v1.raw
	// scripts/convert.py application/vnd.cncf.model.code.v1.raw
	// train.csv application/vnd.cncf.model.dataset.v1.raw
}

func ExampleParseMediaTypeRule() {
	r, err := artifact.ParseMediaTypeRule("*.gguf=weight")
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Pattern, r.MediaType)
	_, err = artifact.ParseMediaTypeRule("*.gguf")
	fmt.Println(err != nil)
	// Output:
	// *.gguf application/vnd.cncf.model.weight.v1.raw
	// true
}

// Pack a model directory into raw layers, a ModelPack config and a
// manifest, then read the manifest back as a plan and unpack it into a
// staging directory, checking every byte on the way.
func Example() {
	ctx := context.Background()
	model, err := os.MkdirTemp("", "model")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(model)
	os.WriteFile(filepath.Join(model, "config.json"), []byte(`{"model_type":"llama","torch_dtype":"bfloat16"}`), 0o644)
	os.WriteFile(filepath.Join(model, "model.safetensors"), []byte("weights"), 0o644)

	// Push side.
	files, err := artifact.Scan(model, artifact.ScanOptions{})
	if err != nil {
		panic(err)
	}
	var layers []ocispec.Descriptor
	blobs := map[string][]byte{}
	for _, f := range files {
		d, err := artifact.HashFile(ctx, f, nil)
		if err != nil {
			panic(err)
		}
		layers = append(layers, artifact.Layer(f, d))
		blobs[f.Path], _ = os.ReadFile(f.Source)
	}
	config, configDesc, err := artifact.Config(model, layers, artifact.Info{Name: "tiny"})
	if err != nil {
		panic(err)
	}
	manifest, _, err := artifact.Manifest(configDesc, layers, nil)
	if err != nil {
		panic(err)
	}
	var m modelspec.Model
	if err := json.Unmarshal(config, &m); err != nil {
		panic(err)
	}
	fmt.Println("config:", m.Descriptor.Family, m.Config.Precision, m.Config.Format)

	// Pull side.
	plan, err := artifact.ParseManifest(manifest, artifact.Limits{})
	if err != nil {
		panic(err)
	}
	if _, err := plan.ApplyConfig(config); err != nil {
		panic(err)
	}
	staging, err := os.MkdirTemp("", "staging")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(staging)
	u, err := artifact.NewUnpacker(staging, plan)
	if err != nil {
		panic(err)
	}
	defer u.Close()
	for _, e := range plan.Entries {
		if err := u.Write(ctx, e, bytes.NewReader(blobs[e.Path]), nil); err != nil {
			panic(err)
		}
		fmt.Println("wrote", e.Path, e.Layer.MediaType)
	}
	// Output:
	// config: llama bf16 safetensors
	// wrote config.json application/vnd.cncf.model.weight.config.v1.raw
	// wrote model.safetensors application/vnd.cncf.model.weight.v1.raw
}
