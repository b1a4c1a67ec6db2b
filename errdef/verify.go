package errdef

import (
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// VerifyReader reads at most desc.Size bytes and hashes them as they pass;
// Verify then rejects short, long or mismatched content.
//
// Written here rather than using oras-go's content.VerifyReader because the
// error must carry the digest actually received.
type VerifyReader struct {
	r    io.Reader
	desc ocispec.Descriptor
	h    hash.Hash
	n    int64
}

// NewVerifyReader wraps r to check it against desc. desc.Digest must have
// been validated (ParseManifest does).
func NewVerifyReader(r io.Reader, desc ocispec.Descriptor) *VerifyReader {
	return &VerifyReader{r: r, desc: desc, h: desc.Digest.Algorithm().Hash()}
}

func (v *VerifyReader) Read(p []byte) (int, error) {
	left := v.desc.Size - v.n
	if left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	if err == io.EOF && v.n < v.desc.Size {
		err = fmt.Errorf("%w: got %d of %d bytes", ErrSizeMismatch, v.n, v.desc.Size)
	}
	return n, err
}

// Verify drains nothing: it checks that exactly desc.Size bytes were read,
// that no byte follows, and that they hash to desc.Digest.
func (v *VerifyReader) Verify() error {
	if v.n != v.desc.Size {
		return fmt.Errorf("%w: got %d of %d bytes", ErrSizeMismatch, v.n, v.desc.Size)
	}
	var one [1]byte
	if n, _ := io.ReadFull(v.r, one[:]); n > 0 {
		return fmt.Errorf("%w: more than the declared %d bytes", ErrSizeMismatch, v.desc.Size)
	}
	if got := digest.NewDigest(v.desc.Digest.Algorithm(), v.h); got != v.desc.Digest {
		return fmt.Errorf("%w: got %s", ErrDigestMismatch, got)
	}
	return nil
}
