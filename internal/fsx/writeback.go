package fsx

import "os"

// writebackChunk is how much is written before the kernel is asked to
// start writing it to disk.
const writebackChunk = 8 << 20

// Writeback starts disk writeback of a file being written front to back,
// a chunk at a time as soon as it is written, so the fsync that makes the
// file durable before its rename waits only for the tail. Without it,
// fsync of a large model costs about as long as downloading it. Only
// Linux has a call for it (sync_file_range, which does not wait);
// elsewhere Wrote does nothing and fsync does all the work.
type Writeback struct {
	F       *os.File
	Started int64 // offset where the bytes not yet handed to writeback start
}

// Wrote records that the file now holds bytes up to end.
func (w *Writeback) Wrote(end int64) {
	if end-w.Started < writebackChunk {
		return
	}
	startWriteback(w.F, w.Started, end-w.Started)
	w.Started = end
}
