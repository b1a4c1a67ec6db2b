package workflow

import (
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// The upload progress of a bare file comes from its offset: a move is
// reported, bytes sent again after a rewind count again, a closed file
// ends the sampling, and nothing is reported once end returns.
func TestOffsetWatchReportsTheFileOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fh.Close() })
		return fh
	}
	seek := func(fh *os.File, off int64) {
		if _, err := fh.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
	}
	var total atomic.Int64
	w := offsetWatch{count: func(n int64) { total.Add(n) }, stop: make(chan struct{})}

	fh := open()
	var last int64
	for _, step := range []struct{ off, total int64 }{{600, 600}, {100, 600}, {700, 1200}} {
		seek(fh, step.off)
		if !w.sample(fh, &last) || total.Load() != step.total {
			t.Fatalf("at offset %d: reported %d bytes, want %d", step.off, total.Load(), step.total)
		}
	}
	fh.Close()
	if w.sample(fh, &last) {
		t.Fatal("sample of a closed file: true, want false")
	}

	total.Store(0)
	fh = open()
	w.start(fh)
	seek(fh, 400)
	for deadline := time.Now().Add(10 * time.Second); total.Load() != 400; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("sampler reported %d bytes, want 400", total.Load())
		}
	}
	w.end()
	seek(fh, 1000)
	time.Sleep(3 * progressTick)
	if got := total.Load(); got != 400 {
		t.Fatalf("reported %d bytes after end, want 400", got)
	}
}
