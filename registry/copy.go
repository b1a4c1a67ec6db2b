package registry

import (
	"context"
	"fmt"
	"io"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/vessel-oci/vessel/errdef"
)

// CopyOptions tune CopyGraph.
type CopyOptions struct {
	// Concurrency is how many nodes are copied at once; <= 0 means 4.
	Concurrency int
	// Referrers copies, for every manifest of the graph, the manifests that
	// refer to it (referrers API or tag schema), recursively.
	Referrers bool
	// OnNode, if set, hears of every node: copied (sent or mounted) or
	// skipped (the destination had it). It may be called concurrently.
	OnNode func(desc ocispec.Descriptor, copied bool)
	// OnDangling, if set, hears of each referrer the source lists but
	// does not have (left out of the copy). It may be called concurrently.
	OnDangling func(desc ocispec.Descriptor)
}

// CopyGraph copies root and every blob and manifest it references from src
// to dst (and, with Referrers, what refers to them). Every byte read from
// src is checked against its descriptor as it streams, so a corrupted
// source fails the copy instead of being passed on; nodes dst has are
// skipped; within one registry, blobs are mounted across repositories
// instead of uploaded. It writes no tag.
func CopyGraph(ctx context.Context, src, dst *Repository, root ocispec.Descriptor, opts CopyOptions) error {
	node := func(copied bool) func(context.Context, ocispec.Descriptor) error {
		return func(_ context.Context, d ocispec.Descriptor) error {
			if opts.OnNode != nil {
				opts.OnNode(d, copied)
			}
			return nil
		}
	}
	graphOpts := oras.CopyGraphOptions{
		Concurrency:      opts.Concurrency,
		MaxMetadataBytes: MaxManifestSize,
		PostCopy:         node(true),
		OnCopySkipped:    node(false),
		OnMounted:        node(true),
	}
	if graphOpts.Concurrency <= 0 {
		graphOpts.Concurrency = 4
	}
	if src.Ref.Registry != "" && src.Ref.Registry == dst.Ref.Registry && src.Ref.Repository != dst.Ref.Repository {
		graphOpts.MountFrom = func(context.Context, ocispec.Descriptor) ([]string, error) {
			return []string{src.Ref.Repository}, nil
		}
	}
	from := &verifyingSource{Target: src.target}
	if !opts.Referrers {
		return from.blame(oras.CopyGraph(ctx, from, dst.target, root, graphOpts))
	}
	return from.blame(oras.ExtendedCopyGraph(ctx, from, dst.target, root, oras.ExtendedCopyGraphOptions{
		CopyGraphOptions: graphOpts,
		FindPredecessors: func(ctx context.Context, _ content.ReadOnlyGraphStorage, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
			if !IsManifest(d.MediaType) {
				return nil, nil
			}
			refs, err := src.Referrers(ctx, d, "")
			if err != nil {
				return nil, err
			}
			// A referrer listed but gone (a registry GC, a partial copy)
			// is left out rather than failing the whole copy.
			var have []ocispec.Descriptor
			for _, r := range refs {
				ok, err := src.Exists(ctx, r)
				if err != nil {
					return nil, err
				}
				if !ok {
					if opts.OnDangling != nil {
						opts.OnDangling(r)
					}
					continue
				}
				have = append(have, r)
			}
			return have, nil
		},
	}))
}

// Tag points tag at desc, a manifest the repository holds.
func (r *Repository) Tag(ctx context.Context, desc ocispec.Descriptor, tag string) error {
	if err := r.target.Tag(ctx, desc, tag); err != nil {
		return fmt.Errorf("tag %s in %s: %w", tag, r.Ref, err)
	}
	return nil
}

// IsManifest reports whether mt is an OCI or Docker manifest or index.
func IsManifest(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json":
		return true
	}
	return false
}

// verifyingSource checks every blob and manifest read from the source
// against its descriptor as it streams, and remembers the first mismatch.
type verifyingSource struct {
	Target
	mu       sync.Mutex
	mismatch error
}

// blame returns the source's first mismatch in place of err: bad bytes
// reach the destination with the read that found them, and its refusal
// ("400 invalid digest") can arrive before the upload sees the read
// error, but the fault is the source's.
func (v *verifyingSource) blame(err error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil && v.mismatch != nil {
		return v.mismatch
	}
	return err
}

func (v *verifyingSource) found(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.mismatch == nil {
		v.mismatch = err
	}
}

func (v *verifyingSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errdef.ErrDigestMismatch, d.Digest, err)
	}
	rc, err := v.Target.Fetch(ctx, d)
	if err != nil {
		return nil, fetchError(d, err)
	}
	return &verifiedStream{vr: errdef.NewVerifyReader(rc, d), size: d.Size, Closer: rc, src: v}, nil
}

// verifiedStream checks the digest on the read that brings the last
// declared byte, not on a later one: an uploader that knows the length
// stops reading there, and would pass bad bytes on for the destination
// to refuse in its own words (or not at all).
type verifiedStream struct {
	vr         *errdef.VerifyReader
	size, read int64
	io.Closer
	src *verifyingSource
}

func (s *verifiedStream) Read(p []byte) (int, error) {
	n, err := s.vr.Read(p)
	s.read += int64(n)
	if err == io.EOF || (err == nil && s.read == s.size) {
		if verr := s.vr.Verify(); verr != nil {
			s.src.found(verr)
			return n, verr
		}
		return n, io.EOF
	}
	return n, err
}
