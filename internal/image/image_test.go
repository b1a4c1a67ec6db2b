package image_test

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/vessel-oci/vessel/internal/image"
)

func fakeBinary(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vessel")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAssemble(t *testing.T) {
	amd, arm := fakeBinary(t, "amd64 binary"), fakeBinary(t, "arm64 binary")
	bins := []image.Binary{{OS: "linux", Arch: "amd64", Path: amd}, {OS: "linux", Arch: "arm64", Path: arm}}
	labels := map[string]string{"org.opencontainers.image.source": "https://github.com/vessel-oci/vessel"}
	idx, err := image.Assemble(bins, image.Options{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	d1, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// The same binaries, again: the same digest.
	again, err := image.Assemble(bins, image.Options{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := again.Digest(); d2 != d1 {
		t.Fatalf("not reproducible: %s then %s", d1, d2)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.index.v1+json" || len(m.Manifests) != 2 {
		t.Fatalf("index %+v", m)
	}
	for i, desc := range m.Manifests {
		if desc.Platform == nil || desc.Platform.OS != "linux" || desc.Platform.Architecture != bins[i].Arch {
			t.Fatalf("manifest %d platform %+v", i, desc.Platform)
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/usr/local/bin/vessel" ||
			cf.Architecture != bins[i].Arch || cf.Created.Unix() != 0 || cf.Config.Labels["org.opencontainers.image.source"] == "" {
			t.Fatalf("config %+v", cf)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("layers %v %v", layers, err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		var found bool
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Name == "usr/local/bin/vessel" {
				b, _ := io.ReadAll(tr)
				found = string(b) == bins[i].Arch+" binary" && h.Mode == 0o755 && h.Uid == 0 && h.ModTime.Unix() == 0
			}
		}
		rc.Close()
		if !found {
			t.Fatalf("%s: the layer lacks usr/local/bin/vessel as built", bins[i].Arch)
		}
	}
	// Another binary, another digest.
	other, _ := image.Assemble([]image.Binary{{OS: "linux", Arch: "amd64", Path: fakeBinary(t, "changed")}, bins[1]}, image.Options{Labels: labels})
	if d3, _ := other.Digest(); d3 == d1 {
		t.Fatal("a changed binary gave the same digest")
	}
}
