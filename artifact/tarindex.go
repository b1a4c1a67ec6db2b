package artifact

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A tar index says where each file of a model's tar layers lies, so that
// a partial pull fetches only the files it selects, by HTTP range. It
// travels as a referrer of the model (TarIndexArtifactType), one blob per
// tar layer, each annotated with the layer's digest. Nothing in it is
// trusted: a range fetched by it is read as a tar stream, through the
// unpacker's checks, and each file it yields must carry the digest the
// model's OpenSSF signature gives it; a file the index leaves out is
// missed by the completeness check.
const (
	TarIndexArtifactType = "application/vnd.vessel.tar-index.v1"
	TarIndexMediaType    = "application/vnd.vessel.tar-index.v1+json"
	// AnnotationTarLayer names the tar layer an index blob describes.
	AnnotationTarLayer = "dev.vessel.tar.layer"
	// MaxTarIndexSize caps one layer's index blob.
	MaxTarIndexSize = 64 << 20
)

// tarIndex is one layer's index blob: its entries in tar order, each with
// where its data starts and its size (its header starts where the one
// before it ends, the first at 0).
type tarIndex struct {
	Layer   digest.Digest  `json:"layer"`
	Entries []tarIndexFile `json:"entries"`
}

type tarIndexFile struct {
	Path string `json:"path"`
	Data int64  `json:"data"`
	Size int64  `json:"size"`
}

// TarIndexBlob encodes the index of the tar layer layer, whose files
// TarEntries located.
func TarIndexBlob(layer digest.Digest, entries []TarEntry) ([]byte, error) {
	idx := tarIndex{Layer: layer, Entries: make([]tarIndexFile, len(entries))}
	for i, e := range entries {
		idx.Entries[i] = tarIndexFile{Path: e.Path, Data: e.Data, Size: e.Size}
	}
	return json.Marshal(idx)
}

// ParseTarIndex reads an index blob of the tar layer layer. It refuses
// entries out of order, overlapping, outside the layer, or with unsafe
// paths (a pull then reads the whole layer); whether they tell the truth
// is checked when their ranges are read.
func ParseTarIndex(data []byte, layer ocispec.Descriptor) ([]TarEntry, error) {
	var idx tarIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("tar index of %s: %v", layer.Digest, err)
	}
	if idx.Layer != layer.Digest {
		return nil, fmt.Errorf("tar index of %s describes %s", layer.Digest, idx.Layer)
	}
	entries := make([]TarEntry, len(idx.Entries))
	var next int64
	for i, f := range idx.Entries {
		e := TarEntry{Path: f.Path, Header: next, Data: f.Data, Size: f.Size}
		if _, err := CleanPath(f.Path); err != nil {
			return nil, fmt.Errorf("tar index of %s: %w", layer.Digest, err)
		}
		if f.Size < 0 || f.Data < next+512 || e.End() > layer.Size || e.End() < f.Data {
			return nil, fmt.Errorf("tar index of %s: entry %q at %d (%d bytes) does not fit the layer", layer.Digest, f.Path, f.Data, f.Size)
		}
		entries[i] = e
		next = e.End()
	}
	return entries, nil
}
