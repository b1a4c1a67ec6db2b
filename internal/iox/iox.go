// Package iox holds the small I/O helpers that several vessel packages
// stream through: reader and writer wrappers (filesystem specifics are in
// fsx).
package iox

import (
	"context"
	"io"
)

// CountingReader calls Fn with the byte count of every read, for progress.
type CountingReader struct {
	R  io.Reader
	Fn func(n int64)
}

func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	if n > 0 {
		c.Fn(int64(n))
	}
	return n, err
}

// Counting wraps r so fn sees every read's count; a nil fn returns r.
func Counting(r io.Reader, fn func(int64)) io.Reader {
	if fn == nil {
		return r
	}
	return &CountingReader{R: r, Fn: fn}
}

// ContextReader stops a long copy once Ctx is cancelled (Ctrl-C mid-file).
type ContextReader struct {
	Ctx context.Context
	R   io.Reader
}

func (c *ContextReader) Read(p []byte) (int, error) {
	if err := c.Ctx.Err(); err != nil {
		return 0, err
	}
	return c.R.Read(p)
}

// CountingWriter counts what passes to W in N and reports each write to
// Progress, when set.
type CountingWriter struct {
	W        io.Writer
	N        int64
	Progress func(n int64)
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	if n > 0 && c.Progress != nil {
		c.Progress(int64(n))
	}
	return n, err
}
