// Package image assembles vessel's container image from static binaries,
// without Docker: one layer holding the binary, a config that runs it as
// a non-root user, an OCI index over the platforms. Every timestamp is
// fixed, so the same binaries give the same digest anywhere.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where the binary goes and who runs it: distroless's nonroot user, which
// a pod's runAsNonRoot accepts (numeric, so no /etc/passwd is needed).
const (
	Entrypoint = "/usr/local/bin/vessel"
	User       = "65532:65532"
)

// Binary is a static vessel binary for one platform.
type Binary struct {
	OS, Arch string
	Path     string
}

// Options describe the image.
type Options struct {
	// Created is every timestamp in the image (default: the Unix epoch).
	Created time.Time
	// Labels go into the config (org.opencontainers.image.*).
	Labels map[string]string
}

// Assemble builds the index of one image per binary.
func Assemble(bins []Binary, opts Options) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, fmt.Errorf("image: no binaries")
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range bins {
		img, err := platformImage(b, created, opts.Labels)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: b.OS, Architecture: b.Arch}},
		})
	}
	return idx, nil
}

func platformImage(b Binary, created time.Time, labels map[string]string) (v1.Image, error) {
	data, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, fmt.Errorf("image %s/%s: %w", b.OS, b.Arch, err)
	}
	layerTar, err := binaryTar(data, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "vessel internal/image"}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = b.OS, b.Arch, v1.Time{Time: created}
	cf.Config.Entrypoint = []string{Entrypoint}
	cf.Config.User = User
	// No writable HOME under a read-only root: vessel keeps no cache then.
	cf.Config.Env = []string{"HOME=/nonexistent"}
	cf.Config.Labels = labels
	return mutate.ConfigFile(img, cf)
}

// binaryTar is the layer: the directories to the binary, and the binary,
// owned by root and not writable by the user who runs it.
func binaryTar(data []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: Entrypoint[1:], Mode: 0o755, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
