package oms

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/sync/errgroup"
	"lukechampine.com/blake3"
)

// newHash returns a constructor for a hash type of the registry.
func newHash(hashType string) (func() hash.Hash, error) {
	switch hashType {
	case HashSHA256:
		return sha256.New, nil
	case HashBLAKE2b:
		return func() hash.Hash {
			h, _ := blake2b.New512(nil) // fails only for a key over 64 bytes
			return h
		}, nil
	case HashBLAKE3:
		return func() hash.Hash { return blake3.New(32, nil) }, nil
	}
	return nil, fmt.Errorf("%w: hash type %q", ErrUnsupported, hashType)
}

// span is one digest to compute: a whole file (end < 0) or [start, end).
type span struct {
	file       *localFile
	start, end int64
}

// ranges splits a file into shards; an empty file has none.
func ranges(f *localFile, shardSize int64) []span {
	var out []span
	for start := int64(0); start < f.size; start += shardSize {
		out = append(out, span{file: f, start: start, end: min(start+shardSize, f.size)})
	}
	return out
}

// concurrency is the number of spans hashed at once.
func concurrency(n int) int {
	if n <= 0 {
		return 4
	}
	return n
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// hashSpans computes each span's digest, streaming, at most limit at once;
// the first error cancels the rest.
func hashSpans(ctx context.Context, spans []span, hashType string, limit int) ([][]byte, error) {
	newH, err := newHash(hashType)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(spans))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency(limit))
	for i := range spans {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			d, err := hashSpan(gctx, spans[i], newH())
			out[i] = d
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func hashSpan(ctx context.Context, s span, h hash.Hash) ([]byte, error) {
	f, err := os.Open(s.file.path)
	if err != nil {
		return nil, fmt.Errorf("hash %s: %w", s.file.name, err)
	}
	defer f.Close()
	var r io.Reader = f
	if s.end >= 0 {
		r = io.NewSectionReader(f, s.start, s.end-s.start)
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(h, ctxReader{ctx, r}, *bp)
	if err != nil {
		return nil, fmt.Errorf("hash %s: %w", s.file.name, err)
	}
	if s.end >= 0 && n != s.end-s.start {
		return nil, fmt.Errorf("hash %s: file shrank while it was read (%d of %d bytes at %d)", s.file.name, n, s.end-s.start, s.start)
	}
	return h.Sum(nil), nil
}

// ctxReader stops a long read when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
