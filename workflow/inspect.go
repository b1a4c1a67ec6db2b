package workflow

import (
	"context"
	"fmt"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/artifact"
)

// Inspection describes a model artifact and what refers to it.
type Inspection struct {
	Reference    string            `json:"reference"`
	Digest       digest.Digest     `json:"digest"`
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Kind         artifact.Kind     `json:"kind"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Config       *modelspec.Model  `json:"config,omitempty"`
	Files        []InspectedFile   `json:"files"`
	TotalSize    int64             `json:"totalSize"`
	Referrers    []Referrer        `json:"referrers"`
}

// InspectedFile is one layer of the model.
type InspectedFile struct {
	File
	Format string `json:"format"`
}

// Referrer is one manifest whose subject is the model, as the registry
// lists it (not verified: inspect only reports).
type Referrer struct {
	Digest       digest.Digest     `json:"digest"`
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Size         int64             `json:"size"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Inspect resolves repo's reference and describes the model and its
// referrers, without fetching any file.
func Inspect(ctx context.Context, repo Source) (*Inspection, error) {
	m, err := Resolve(ctx, repo, artifact.Limits{})
	if err != nil {
		return nil, fmt.Errorf("inspect %w", err)
	}
	in := &Inspection{
		Reference:    m.Ref.String(),
		Digest:       m.Desc.Digest,
		MediaType:    m.Plan.Manifest.MediaType,
		ArtifactType: m.Plan.Manifest.ArtifactType,
		Kind:         m.Plan.Kind,
		Annotations:  m.Plan.Manifest.Annotations,
		Config:       m.Config,
		Files:        []InspectedFile{},
		Referrers:    []Referrer{},
	}
	for _, e := range m.Plan.Entries {
		in.Files = append(in.Files, InspectedFile{
			File:   File{Path: e.Path, Digest: e.Layer.Digest, Size: e.Layer.Size, MediaType: e.Layer.MediaType},
			Format: e.Format.String(),
		})
		in.TotalSize += e.Layer.Size
	}
	refs, err := repo.Referrers(ctx, m.Desc, "")
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", m.Ref, err)
	}
	for _, r := range refs {
		in.Referrers = append(in.Referrers, Referrer{Digest: r.Digest, MediaType: r.MediaType, ArtifactType: r.ArtifactType, Size: r.Size, Annotations: r.Annotations})
	}
	return in, nil
}
