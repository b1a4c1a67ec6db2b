package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/artifact"
)

// attachTarIndex stores, as a referrer of the model at desc, where each
// file of its tar layers lies (artifact.TarIndexArtifactType), for partial
// pulls to fetch by range. Nothing when the model has no tar layer.
func attachTarIndex(ctx context.Context, repo Target, desc ocispec.Descriptor, units []artifact.Unit, layers []ocispec.Descriptor) error {
	var blobs []ocispec.Descriptor
	for i, u := range units {
		if !u.Tar {
			continue
		}
		entries, err := artifact.TarEntries(u)
		if err != nil {
			return err
		}
		data, err := artifact.TarIndexBlob(layers[i].Digest, entries)
		if err != nil {
			return err
		}
		d := ocispec.Descriptor{MediaType: artifact.TarIndexMediaType, Digest: digest.FromBytes(data), Size: int64(len(data)),
			Annotations: map[string]string{artifact.AnnotationTarLayer: layers[i].Digest.String()}}
		if _, err := repo.PushBlob(ctx, d, bytesOpener(data)); err != nil {
			return err
		}
		blobs = append(blobs, d)
	}
	if len(blobs) == 0 {
		return nil
	}
	if _, err := repo.PushBlob(ctx, ocispec.DescriptorEmptyJSON, bytesOpener(ocispec.DescriptorEmptyJSON.Data)); err != nil {
		return err
	}
	subject := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifact.TarIndexArtifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       blobs,
		Subject:      &subject,
		// Fixed: the same model gets the same index manifest.
		Annotations: map[string]string{ocispec.AnnotationCreated: time.Unix(0, 0).UTC().Format(time.RFC3339)},
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	md := ocispec.Descriptor{MediaType: m.MediaType, ArtifactType: m.ArtifactType, Digest: digest.FromBytes(data), Size: int64(len(data)), Annotations: m.Annotations}
	return repo.PushManifest(ctx, md, data, "")
}

// tarIndexes finds the model's tar index (see attachTarIndex): each tar
// layer's index blob, by the layer's digest. Nil when there is none or it
// cannot be read: a partial pull then reads whole layers.
func tarIndexes(ctx context.Context, repo Source, m *Resolved) map[digest.Digest]ocispec.Descriptor {
	refs, err := repo.Referrers(ctx, m.Desc, artifact.TarIndexArtifactType)
	if err != nil {
		return nil
	}
	for _, r := range refs {
		if r.ArtifactType != artifact.TarIndexArtifactType {
			continue
		}
		data, err := fetchManifest(ctx, repo, r)
		if err != nil {
			continue
		}
		var im ocispec.Manifest
		if json.Unmarshal(data, &im) != nil || im.Subject == nil || im.Subject.Digest != m.Desc.Digest {
			continue
		}
		out := map[digest.Digest]ocispec.Descriptor{}
		for _, l := range im.Layers {
			if d, err := digest.Parse(l.Annotations[artifact.AnnotationTarLayer]); err == nil && l.MediaType == artifact.TarIndexMediaType && l.Size <= artifact.MaxTarIndexSize {
				out[d] = l
			}
		}
		return out
	}
	return nil
}

// rangeGap: selected entries closer than this are fetched in one range,
// the ones between them read and skipped.
const rangeGap = 256 << 10

// span is a run of whole tar entries, [start, end).
type span struct{ start, end int64 }

// unpackRanges writes the selected files of tar layer e by fetching only
// their entries, as its index (at idx) locates them, in ranges (none when
// it holds no selected file). ok false (and no error) means it could not
// (the index unreadable, the registry ignoring ranges before anything was
// written): read the whole layer instead.
func unpackRanges(ctx context.Context, repo PullSource, u *artifact.Unpacker, e artifact.Entry, idx ocispec.Descriptor) (ranges int, ok bool, err error) {
	data, err := repo.FetchCapped(ctx, idx, artifact.MaxTarIndexSize)
	if err != nil {
		return 0, false, nil
	}
	entries, err := artifact.ParseTarIndex(data, e.Layer)
	if err != nil {
		return 0, false, nil
	}
	var spans []span
	for _, te := range entries {
		if !u.Selects(te.Path) {
			continue
		}
		if n := len(spans); n > 0 && te.Header-spans[n-1].end < rangeGap {
			spans[n-1].end = te.End()
			continue
		}
		spans = append(spans, span{te.Header, te.End()})
	}
	for i, s := range spans {
		rc, ranged, err := repo.FetchRange(ctx, e.Layer, s.start, s.end-s.start)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", e.Path, err)
		}
		if !ranged {
			rc.Close()
			if i == 0 {
				return 0, false, nil
			}
			return 0, false, fmt.Errorf("%s: the registry stopped serving ranges", e.Path)
		}
		err = u.WriteRange(e, rc, s.end-s.start)
		rc.Close()
		if err != nil {
			return 0, false, fmt.Errorf("%s: range %d-%d: %w", e.Path, s.start, s.end, err)
		}
	}
	return len(spans), true, nil
}
