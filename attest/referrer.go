package attest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotations cosign puts on a bundle referrer.
const (
	AnnotationBundleContent       = "dev.sigstore.bundle.content"
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
)

// Referrer is a bundle packaged as an OCI 1.1 referrer of subject, the way
// cosign stores it: artifactType and layer = the bundle media type, config
// = the empty descriptor. Push Config, Bundle, then Manifest.
type Referrer struct {
	Manifest   []byte
	Desc       ocispec.Descriptor
	Bundle     []byte
	BundleDesc ocispec.Descriptor
	// ConfigDesc is the empty JSON descriptor; its Data holds the bytes.
	ConfigDesc ocispec.Descriptor
}

// NewReferrer packages bundle as a referrer of subject.
func NewReferrer(subject ocispec.Descriptor, bundle []byte, predicateType string, created time.Time) (*Referrer, error) {
	bundleDesc := ocispec.Descriptor{MediaType: BundleMediaType, Digest: digest.FromBytes(bundle), Size: int64(len(bundle))}
	subj := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: BundleMediaType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{bundleDesc},
		Subject:      &subj,
		Annotations: map[string]string{
			AnnotationBundleContent:       "dsse-envelope",
			AnnotationBundlePredicateType: predicateType,
			ocispec.AnnotationCreated:     created.UTC().Format(time.RFC3339),
		},
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("referrer manifest: %w", err)
	}
	return &Referrer{
		Manifest:   data,
		Desc:       ocispec.Descriptor{MediaType: m.MediaType, ArtifactType: m.ArtifactType, Digest: digest.FromBytes(data), Size: int64(len(data)), Annotations: m.Annotations},
		Bundle:     bundle,
		BundleDesc: bundleDesc,
		ConfigDesc: ocispec.DescriptorEmptyJSON,
	}, nil
}

// BundleLayer returns the bundle layer of a referrer manifest, if it is a
// bundle referrer. Index entries are not trusted for this: callers pass the
// fetched, digest-checked manifest.
func BundleLayer(m ocispec.Manifest) (ocispec.Descriptor, bool) {
	if len(m.Layers) != 1 || m.Layers[0].MediaType != BundleMediaType {
		return ocispec.Descriptor{}, false
	}
	return m.Layers[0], true
}
