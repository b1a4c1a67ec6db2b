package workflow

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/store"
)

// Source is what reading a model asks of the place it lives: Resolve,
// Verify, Inspect and Attestations need nothing else. "Not found" is the
// source's to decide (errdef.ErrNotFound); every other error is a failure.
// *registry.Repository is one (a registry repository, an OCI layout or
// archive).
type Source interface {
	Reference() registry.Reference
	// Resolve looks up the reference's tag or digest, once.
	Resolve(ctx context.Context) (ocispec.Descriptor, error)
	// ResolveTag looks up another tag of the same repository.
	ResolveTag(ctx context.Context, tag string) (ocispec.Descriptor, error)
	// FetchCapped reads a small blob or manifest, refusing one declared
	// larger than limit, checked against desc.
	FetchCapped(ctx context.Context, desc ocispec.Descriptor, limit int64) ([]byte, error)
	// FetchBlob opens a blob; the caller checks it as it streams.
	FetchBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
	// Referrers lists the manifests whose subject is desc.
	Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error)
}

// PullSource is a Source that also serves byte ranges of blobs, which the
// content store resumes and splits downloads with.
type PullSource interface {
	Source
	store.Source
}

// Target is what writing a model asks of the place it goes.
type Target interface {
	Reference() registry.Reference
	// PushBlob uploads desc's bytes from open unless the target has them;
	// sent reports whether it did.
	PushBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) (sent bool, err error)
	// PushManifest stores a manifest, tagged tag when it is not empty.
	PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, tag string) error
}

// Repository is both: Sign and Attest read a model and write beside it.
type Repository interface {
	Source
	Target
}

var (
	_ PullSource = (*registry.Repository)(nil)
	_ Repository = (*registry.Repository)(nil)
)

// fetchManifest reads a manifest within the registry's manifest cap.
func fetchManifest(ctx context.Context, src Source, desc ocispec.Descriptor) ([]byte, error) {
	return src.FetchCapped(ctx, desc, registry.MaxManifestSize)
}
