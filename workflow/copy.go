package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/registry"
)

// PromotionPredicate is the type of the attestation a countersigned copy
// adds: from where to where, when, by which key.
const PromotionPredicate = "https://github.com/vessel-oci/vessel/promotion/v1"

// CopyOptions configure Copy (and Export and Import). Like PullOptions,
// the zero value trusts no one and refuses (ErrNoTrust).
type CopyOptions struct {
	// Policy is checked at the source before anything is copied and at the
	// destination after.
	Policy *attest.Policy
	// InsecureSkipVerify copies without checking signatures (every blob is
	// still checked against its digest as it streams).
	InsecureSkipVerify bool
	// Countersign, if set, signs the model at the destination and adds a
	// promotion attestation.
	Countersign attest.Signer
	// Concurrency <= 0 means DefaultConcurrency.
	Concurrency int
}

// CopyResult reports what a copy moved.
type CopyResult struct {
	Source      string        `json:"source"`
	Destination string        `json:"destination"`
	Digest      digest.Digest `json:"digest"`
	// Copied and Skipped count blobs and manifests; skipped ones were at
	// the destination already.
	Copied      int   `json:"copied"`
	Skipped     int   `json:"skipped"`
	BytesCopied int64 `json:"bytesCopied"`
	// Referrers counts the referrer manifests (signatures, attestations,
	// their own referrers) now at the destination.
	Referrers int `json:"referrers"`
	// ClassicTags are cosign's .sig/.att tags copied.
	ClassicTags []string `json:"classicTags,omitempty"`
	// Dangling are referrers the source lists but does not have: not
	// copied (verification at the source refused and skipped them too).
	Dangling     []digest.Digest `json:"dangling,omitempty"`
	Countersign  *SignResult     `json:"countersign,omitempty"`
	Verification *Verification   `json:"verification,omitempty"`
}

// Copy promotes the model src names to dst with everything that refers to
// it: the manifest and its blobs, every referrer found through the
// referrers API or tag schema, recursively, and cosign's classic .sig and
// .att tags. Blobs stream from source to destination, each checked against
// its digest; those the destination has are skipped. The destination tag
// is written last, after the destination verified, so a failed or refused
// copy never leaves it.
func Copy(ctx context.Context, src, dst *registry.Repository, opts CopyOptions) (*CopyResult, error) {
	if err := checkTrust(opts.Policy, opts.InsecureSkipVerify); err != nil {
		return nil, fmt.Errorf("copy %s: %w", src.Ref, err)
	}
	m, err := Resolve(ctx, src, artifact.Limits{})
	if err != nil {
		return nil, fmt.Errorf("copy %w", err)
	}
	if opts.Policy != nil {
		if _, err := VerifyResolved(ctx, src, m, opts.Policy); err != nil {
			return nil, fmt.Errorf("copy %s: source: %w", m.Ref, err)
		}
	}
	res := &CopyResult{Source: m.Ref.String(), Destination: dst.Ref.WithDigest(m.Desc.Digest).String(), Digest: m.Desc.Digest}
	var mu sync.Mutex
	copyOpts := registry.CopyOptions{
		Concurrency: concurrency(opts.Concurrency),
		Referrers:   true,
		OnNode: func(desc ocispec.Descriptor, copied bool) {
			mu.Lock()
			defer mu.Unlock()
			if copied {
				res.Copied++
				res.BytesCopied += desc.Size
			} else {
				res.Skipped++
			}
			if desc.Digest != m.Desc.Digest && registry.IsManifest(desc.MediaType) {
				res.Referrers++
			}
		},
		OnDangling: func(desc ocispec.Descriptor) {
			mu.Lock()
			defer mu.Unlock()
			res.Dangling = append(res.Dangling, desc.Digest)
		},
	}
	if err := registry.CopyGraph(ctx, src, dst, m.Desc, copyOpts); err != nil {
		return nil, fmt.Errorf("copy %s to %s: %w", m.Ref, dst.Ref, err)
	}
	copyOpts.Referrers = false
	for _, tag := range []string{attest.ClassicTag(m.Desc.Digest), attest.ClassicAttestationTag(m.Desc.Digest)} {
		d, err := src.ResolveTag(ctx, tag)
		if errors.Is(err, errdef.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("copy %s: cosign's classic signatures: %w", m.Ref, err)
		}
		if err := registry.CopyGraph(ctx, src, dst, d, copyOpts); err != nil {
			return nil, fmt.Errorf("copy %s: %s: %w", m.Ref, tag, err)
		}
		if err := dst.Tag(ctx, d, tag); err != nil {
			return nil, fmt.Errorf("copy %s: %w", m.Ref, err)
		}
		res.ClassicTags = append(res.ClassicTags, tag)
	}
	pinned := dst.Pinned(m.Desc.Digest)
	if opts.Countersign != nil {
		if res.Countersign, err = countersign(ctx, pinned, m, opts.Countersign, src.Ref, dst.Ref); err != nil {
			return nil, err
		}
	}
	if opts.Policy != nil {
		if res.Verification, err = Verify(ctx, pinned, opts.Policy); err != nil {
			return res, fmt.Errorf("copy %s: destination (not tagged): %w", m.Ref, err)
		}
	}
	// Last, and only once the destination verified: a refused copy leaves
	// no tag to pull it by.
	if dst.Ref.Tag != "" {
		if err := dst.Tag(ctx, m.Desc, dst.Ref.Tag); err != nil {
			return nil, fmt.Errorf("copy %s: %w", m.Ref, err)
		}
		res.Destination = dst.Ref.String()
	}
	return res, nil
}

// countersign signs the copy and attests where it came from.
func countersign(ctx context.Context, dst *registry.Repository, m *Resolved, signer attest.Signer, from, to registry.Reference) (*SignResult, error) {
	res, err := Sign(ctx, dst, signer)
	if err != nil {
		return nil, err
	}
	pred, _ := json.Marshal(map[string]string{
		"from": from.String(), "to": to.String(), "digest": m.Desc.Digest.String(),
		"promotedAt": time.Now().UTC().Format(time.RFC3339), "by": res.By(),
	})
	if _, err := Attest(ctx, dst, signer, PromotionPredicate, pred); err != nil {
		return nil, err
	}
	return res, nil
}
