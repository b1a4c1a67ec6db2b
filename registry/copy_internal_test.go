package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"github.com/vessel-oci/vessel/errdef"
)

// tamperedStore serves its blobs with one byte flipped.
type tamperedStore struct{ *memory.Store }

func (s tamperedStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.Store.Fetch(ctx, d)
	if err != nil || d.MediaType != "application/octet-stream" {
		return rc, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

// refusingStore is a destination as a registry is seen from an upload
// whose response beat the body's read error: it gets every byte, and
// refuses the blob in its own words.
type refusingStore struct{ *memory.Store }

func (s refusingStore) Push(ctx context.Context, d ocispec.Descriptor, r io.Reader) error {
	b := make([]byte, d.Size)
	_, _ = io.ReadFull(r, b) // the server has no reader's error, only bytes
	if digest.FromBytes(b) != d.Digest {
		return errors.New("response status code 400: blob upload invalid: invalid digest")
	}
	return s.Store.Push(ctx, d, bytes.NewReader(b))
}

// A destination that refuses a tampered blob in its own words still gets
// the copy refused as the source's digest mismatch (exit 3, not 1).
func TestCopyBlamesTheSource(t *testing.T) {
	ctx := context.Background()
	src := memory.New()
	blob := bytes.Repeat([]byte("weights "), 1<<13)
	layer := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	if err := src.Push(ctx, layer, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	config := ocispec.DescriptorEmptyJSON
	if err := src.Push(ctx, config, bytes.NewReader(config.Data)); err != nil {
		t.Fatal(err)
	}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: config.MediaType, Digest: config.Digest, Size: config.Size},
		Layers:    []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatal(err)
	}
	root := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	if err := src.Push(ctx, root, bytes.NewReader(manifest)); err != nil {
		t.Fatal(err)
	}
	from := &Repository{Ref: Reference{Registry: "src.example", Repository: "m"}, target: tamperedStore{src}}
	to := &Repository{Ref: Reference{Registry: "dst.example", Repository: "m"}, target: refusingStore{memory.New()}}
	for _, referrers := range []bool{false, true} {
		err := CopyGraph(ctx, from, to, root, CopyOptions{Referrers: referrers})
		if !errors.Is(err, errdef.ErrDigestMismatch) {
			t.Fatalf("referrers %v: copy of a tampered blob: %v, want a digest mismatch", referrers, err)
		}
	}
}
