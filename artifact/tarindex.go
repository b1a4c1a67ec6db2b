package artifact

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A tar index says where each file of a model's tar layers lies, so that
// a partial pull fetches only the files it selects, by HTTP range. It
// travels as a referrer of the model (TarIndexArtifactType) holding a few
// blobs, each for a run of tar layers (AnnotationTarLayers names them):
// a few requests at push, whatever the number of groups, and a pull reads
// only the blob of the layers it needs. Nothing in it is trusted: a range
// fetched by it is read as a tar stream, through the unpacker's checks,
// and each file it yields must carry the digest the model's OpenSSF
// signature gives it; a file the index leaves out is missed by the
// completeness check.
const (
	TarIndexArtifactType = "application/vnd.vessel.tar-index.v1"
	TarIndexMediaType    = "application/vnd.vessel.tar-index.v1+json"
	// AnnotationTarLayers lists (comma-separated) the tar layers an index
	// blob describes.
	AnnotationTarLayers = "dev.vessel.tar.layers"
	// MaxTarIndexSize caps one index blob.
	MaxTarIndexSize = 64 << 20
	// tarIndexBlobTarget is about how much of the index one blob holds.
	tarIndexBlobTarget = 1 << 20
)

// TarGroup is a tar layer and where its files lie (TarEntries).
type TarGroup struct {
	Layer   digest.Digest
	Entries []TarEntry
}

// tarIndex is an index blob: for each of its layers, the entries in tar
// order, each with where its data starts and its size (its header starts
// where the one before it ends, the first at 0).
type tarIndex struct {
	Layers []tarIndexLayer `json:"layers"`
}

type tarIndexLayer struct {
	Layer   digest.Digest  `json:"layer"`
	Entries []tarIndexFile `json:"entries"`
}

type tarIndexFile struct {
	Path string `json:"path"`
	Data int64  `json:"data"`
	Size int64  `json:"size"`
}

// WriteTarIndex encodes the index of the tar units among units (layers
// are their descriptors) as blobs of about a mebibyte, handing each to
// emit with the layers it describes as soon as it is full: a dataset's
// index is never held whole.
func WriteTarIndex(units []Unit, layers []ocispec.Descriptor, emit func(blob []byte, layers []digest.Digest) error) error {
	i := 0
	return writeTarIndex(func() (TarGroup, bool, error) {
		for ; i < len(units); i++ {
			if units[i].Tar {
				entries, err := TarEntries(units[i])
				g := TarGroup{Layer: layers[i].Digest, Entries: entries}
				i++
				return g, true, err
			}
		}
		return TarGroup{}, false, nil
	}, emit)
}

// writeTarIndex is WriteTarIndex over the groups next yields.
func writeTarIndex(next func() (TarGroup, bool, error), emit func([]byte, []digest.Digest) error) error {
	var cur []TarGroup
	var names []digest.Digest
	size := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		b, err := EncodeTarIndex(cur)
		if err != nil {
			return err
		}
		if err := emit(b, names); err != nil {
			return err
		}
		cur, names, size = nil, nil, 0
		return nil
	}
	for {
		g, ok, err := next()
		if err != nil {
			return err
		}
		if !ok {
			return flush()
		}
		for _, e := range g.Entries {
			size += len(e.Path) + 40
		}
		cur, names = append(cur, g), append(names, g.Layer)
		if size >= tarIndexBlobTarget {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// EncodeTarIndex encodes one index blob describing groups.
func EncodeTarIndex(groups []TarGroup) ([]byte, error) {
	idx := tarIndex{Layers: make([]tarIndexLayer, len(groups))}
	for i, g := range groups {
		l := tarIndexLayer{Layer: g.Layer, Entries: make([]tarIndexFile, len(g.Entries))}
		for j, e := range g.Entries {
			l.Entries[j] = tarIndexFile{Path: e.Path, Data: e.Data, Size: e.Size}
		}
		idx.Layers[i] = l
	}
	return json.Marshal(idx)
}

// TarIndex is a decoded index blob: each layer's entries, not yet
// checked (Entries checks them).
type TarIndex struct {
	layers map[digest.Digest][]tarIndexFile
}

// ParseTarIndex decodes an index blob. A pull decodes each blob once and
// takes many layers' entries from it: a blob holds dozens of layers.
func ParseTarIndex(data []byte) (*TarIndex, error) {
	var idx tarIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("tar index: %v", err)
	}
	x := &TarIndex{layers: make(map[digest.Digest][]tarIndexFile, len(idx.Layers))}
	for _, l := range idx.Layers {
		if _, dup := x.layers[l.Layer]; !dup {
			x.layers[l.Layer] = l.Entries
		}
	}
	return x, nil
}

// Entries returns the entries of the tar layer layer. It refuses entries
// out of order, overlapping, outside the layer, or with unsafe paths (a
// pull then reads the whole layer); whether they tell the truth is
// checked when their ranges are read.
func (x *TarIndex) Entries(layer ocispec.Descriptor) ([]TarEntry, error) {
	files, ok := x.layers[layer.Digest]
	if !ok {
		return nil, fmt.Errorf("tar index blob does not describe %s", layer.Digest)
	}
	entries := make([]TarEntry, len(files))
	var next int64
	for i, f := range files {
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
