package artifact

import (
	"bytes"
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A KitOps ModelKit as kit pack writes it (pkg/lib/filesystem in
// kitops-ml/kitops): a Kitfile config, one layer per Kitfile path, each
// annotated with that path; directories as tars walked from the context
// with their parent directories' entries (uid 1000, no times), single
// files as tars too, or raw; tar, tar+gzip or tar+zstd. It unpacks to the
// Kitfile's paths.
func TestKitOpsModelKit(t *testing.T) {
	t.Parallel()
	kitTar := func(files ...tarFile) []byte {
		for i := range files {
			files[i].Hdr.Uid = 1000
		}
		return makeTar(t, files...)
	}
	images := kitTar(dirEntry("data/"), dirEntry("data/images/"), reg("data/images/a.png", "png a"), reg("data/images/b.png", "png b"))
	train := kitTar(dirEntry("data/"), reg("data/train.csv", "x,y\n1,2\n"))
	code := kitTar(reg("train.py", "print('train')\n"))
	weights := []byte("gguf weights")
	layers := []ocispec.Descriptor{
		mpLayer(t, "application/vnd.kitops.modelkit.model.v1.raw", "model.gguf", weights, 0, -1),
		mpLayer(t, "application/vnd.kitops.modelkit.dataset.v1.tar+gzip", "data/images", gzipBytes(t, images), 0, -1),
		mpLayer(t, "application/vnd.kitops.modelkit.dataset.v1.tar+zstd", "data/train.csv", zstdBytes(t, train), 0, -1),
		mpLayer(t, "application/vnd.kitops.modelkit.code.v1.tar", "train.py", code, 0, -1),
	}
	blobs := map[digest.Digest][]byte{
		layers[0].Digest: weights, layers[1].Digest: gzipBytes(t, images), layers[2].Digest: zstdBytes(t, train), layers[3].Digest: code,
	}
	manifest := marshalManifest(t, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.kitops.modelkit.manifest.v1+json",
		Config:       ocispec.Descriptor{MediaType: "application/vnd.kitops.modelkit.config.v1+json", Digest: digest.FromString("{}"), Size: 2},
		Layers:       layers,
	})
	p, err := ParseManifest(manifest, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != KindKitOps {
		t.Fatalf("kind %q", p.Kind)
	}
	got, u := unpackAll(t, p, blobs)
	for name, want := range map[string]string{
		"model.gguf": "gguf weights", "data/images/a.png": "png a", "data/images/b.png": "png b",
		"data/train.csv": "x,y\n1,2\n", "train.py": "print('train')\n",
	} {
		if got[name] != want {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
	// A layer's entries stay under its Kitfile path, as for ModelPack.
	escape := kitTar(reg("data/images/ok.png", "ok"), reg("train.py", "replaced"))
	bad := mpLayer(t, "application/vnd.kitops.modelkit.dataset.v1.tar", "data/images", escape, 0, -1)
	p, err = ParseManifest(marshalManifest(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: "application/vnd.kitops.modelkit.config.v1+json", Digest: digest.FromString("{}"), Size: 2},
		Layers: []ocispec.Descriptor{bad},
	}), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, staging := newStaging(t)
	u = newUnpacker(t, staging, p)
	if err := u.Write(context.Background(), p.Entries[0], bytes.NewReader(escape), nil); err == nil {
		t.Fatal("a KitOps layer's entry outside its path was written")
	}
}
