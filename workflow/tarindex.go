package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
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
	err := artifact.WriteTarIndex(units, layers, func(b []byte, described []digest.Digest) error {
		names := make([]string, len(described))
		for j, d := range described {
			names[j] = d.String()
		}
		d := ocispec.Descriptor{MediaType: artifact.TarIndexMediaType, Digest: digest.FromBytes(b), Size: int64(len(b)),
			Annotations: map[string]string{artifact.AnnotationTarLayers: strings.Join(names, ",")}}
		if _, err := repo.PushBlob(ctx, d, bytesOpener(b)); err != nil {
			return err
		}
		blobs = append(blobs, d)
		return nil
	})
	if err != nil {
		return err
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
	manifest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	md := ocispec.Descriptor{MediaType: m.MediaType, ArtifactType: m.ArtifactType, Digest: digest.FromBytes(manifest), Size: int64(len(manifest)), Annotations: m.Annotations}
	return repo.PushManifest(ctx, md, manifest, "")
}

// tarIndex is the model's tar index (see attachTarIndex) as a pull uses
// it: which blob describes each tar layer, each blob fetched once.
type tarIndex struct {
	blob map[digest.Digest]ocispec.Descriptor // by tar layer
	mu   sync.Mutex
	data map[digest.Digest]*indexBlob // by blob, decoded once
}

type indexBlob struct {
	once sync.Once
	idx  *artifact.TarIndex // nil: it could not be fetched or decoded
}

// findTarIndex finds the model's tar index. Nil when there is none or it
// cannot be read: a partial pull then reads whole layers.
func findTarIndex(ctx context.Context, repo Source, m *Resolved) *tarIndex {
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
		idx := &tarIndex{blob: map[digest.Digest]ocispec.Descriptor{}, data: map[digest.Digest]*indexBlob{}}
		for _, l := range im.Layers {
			if l.MediaType != artifact.TarIndexMediaType || l.Size > artifact.MaxTarIndexSize {
				continue
			}
			for _, name := range strings.Split(l.Annotations[artifact.AnnotationTarLayers], ",") {
				if d, err := digest.Parse(name); err == nil {
					idx.blob[d] = l
				}
			}
		}
		return idx
	}
	return nil
}

// entries locates the files of the tar layer layer; ok false when the
// index does not describe it or cannot be read.
func (x *tarIndex) entries(ctx context.Context, repo Source, layer ocispec.Descriptor) ([]artifact.TarEntry, bool) {
	if x == nil {
		return nil, false
	}
	desc, ok := x.blob[layer.Digest]
	if !ok {
		return nil, false
	}
	x.mu.Lock()
	b := x.data[desc.Digest]
	if b == nil {
		b = &indexBlob{}
		x.data[desc.Digest] = b
	}
	x.mu.Unlock()
	b.once.Do(func() {
		if data, err := repo.FetchCapped(ctx, desc, artifact.MaxTarIndexSize); err == nil {
			b.idx, _ = artifact.ParseTarIndex(data)
		}
	})
	if b.idx == nil {
		return nil, false
	}
	entries, err := b.idx.Entries(layer)
	return entries, err == nil
}

// rangeGap: selected entries closer than this are fetched in one range,
// the ones between them read and skipped.
const rangeGap = 256 << 10

// span is a run of whole tar entries, [start, end).
type span struct{ start, end int64 }

// unpackRanges writes the selected files of tar layer e by fetching only
// their entries, as the index locates them, in ranges (none when it holds
// no selected file). ok false (and no error) means it could not (the
// index does not describe the layer, the registry ignores ranges): read
// the whole layer instead.
func unpackRanges(ctx context.Context, repo PullSource, plan *artifact.Plan, u *artifact.Unpacker, e artifact.Entry, idx *tarIndex) (ranges int, ok bool, err error) {
	entries, ok := idx.entries(ctx, repo, e.Layer)
	if !ok {
		return 0, false, nil
	}
	var spans []span
	for _, te := range entries {
		if !plan.Selects(te.Path) {
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
