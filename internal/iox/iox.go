// Package iox holds the small I/O helpers that several vessel packages
// stream through: reader wrappers and early disk writeback.
package iox

import (
	"context"
	"io"
	"os"

	"golang.org/x/sys/unix"
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

// writebackChunk is how much is written before the kernel is asked to
// start writing it to disk.
const writebackChunk = 8 << 20

// Writeback starts disk writeback of a file being written front to back,
// a chunk at a time as soon as it is written (sync_file_range, which does
// not wait), so the fsync that makes the file durable before its rename
// waits only for the tail. Without it, fsync of a large model costs about
// as long as downloading it.
type Writeback struct {
	F       *os.File
	Started int64 // offset where the bytes not yet handed to writeback start
}

// Wrote records that the file now holds bytes up to end.
func (w *Writeback) Wrote(end int64) {
	if end-w.Started < writebackChunk {
		return
	}
	// Advisory: an error only means writeback starts later, at fsync.
	_ = unix.SyncFileRange(int(w.F.Fd()), w.Started, end-w.Started, unix.SYNC_FILE_RANGE_WRITE)
	w.Started = end
}
