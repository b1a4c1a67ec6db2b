package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/vessel-oci/vessel/workflow"
)

// progress renders workflow events: bars on a terminal, one plain line per
// finished file otherwise, nothing when quiet.
type progress interface {
	handle(workflow.Event)
	// finish stops rendering; ok says whether the operation succeeded.
	finish(ok bool)
}

func newProgress(c interface{ Bool(string) bool }, w io.Writer, verb string) progress {
	if c.Bool("quiet") {
		return nopProgress{}
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return newBars(w)
	}
	return &lines{w: w, verb: verb}
}

type nopProgress struct{}

func (nopProgress) handle(workflow.Event) {}
func (nopProgress) finish(bool)           {}

// lines prints one line per finished file: for logs and CI.
type lines struct {
	mu   sync.Mutex
	w    io.Writer
	verb string
}

func (l *lines) handle(e workflow.Event) {
	if e.Kind != workflow.EventDone {
		return
	}
	verb := l.verb
	if e.Skipped {
		verb = "exists"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%-8s %s (%s, %s)\n", verb, e.Path, humanSize(e.Size), shortDigest(e.Digest))
}

func (l *lines) finish(bool) {}

// bars draws a bar per file, showing its current phase (hash, upload,
// download), and a total of the bytes moved, with throughput.
type bars struct {
	mu    sync.Mutex
	p     *mpb.Progress
	total *mpb.Bar
	files map[string]*fileBar
}

type fileBar struct {
	bar   *mpb.Bar
	phase atomic.Value // workflow.Phase
}

func newBars(w io.Writer) *bars {
	return &bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32)), files: map[string]*fileBar{}}
}

// moves reports whether bytes of this phase are the ones the total counts.
func moves(p workflow.Phase) bool { return p == workflow.PhaseUpload || p == workflow.PhaseDownload }

func (b *bars) handle(e workflow.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e.Kind {
	case workflow.EventPlan:
		b.total = b.p.AddBar(e.Size, mpb.BarPriority(1<<30),
			mpb.PrependDecorators(decor.Name("total", decor.WCSyncSpaceR), decor.Name("", decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f"), decor.Name("  "), decor.AverageSpeed(decor.SizeB1024(0), "% .1f")))
	case workflow.EventStart:
		fb := b.files[e.Path]
		if fb == nil {
			fb = &fileBar{}
			fb.bar = b.p.AddBar(e.Size, mpb.BarRemoveOnComplete(),
				mpb.PrependDecorators(decor.Name(e.Path, decor.WCSyncSpaceR),
					decor.Any(func(decor.Statistics) string { return string(fb.phase.Load().(workflow.Phase)) }, decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f")))
			b.files[e.Path] = fb
		} else {
			fb.bar.SetCurrent(0) // a new phase over the same bytes
		}
		fb.phase.Store(e.Phase)
	case workflow.EventBytes:
		if fb := b.files[e.Path]; fb != nil {
			fb.bar.IncrInt64(e.Bytes)
		}
		if b.total != nil && moves(e.Phase) {
			b.total.IncrInt64(e.Bytes)
		}
	case workflow.EventDone:
		fb := b.files[e.Path]
		if fb == nil {
			return
		}
		if rest := e.Size - fb.bar.Current(); rest > 0 && b.total != nil {
			b.total.IncrInt64(rest) // a skipped upload still counts as done
		}
		fb.bar.SetTotal(-1, true)
	}
}

func (b *bars) finish(ok bool) {
	b.mu.Lock()
	for _, fb := range b.files {
		if !fb.bar.Completed() {
			fb.bar.Abort(true)
		}
	}
	if b.total != nil {
		if ok {
			b.total.SetTotal(-1, true)
		} else {
			b.total.Abort(false)
		}
	}
	b.mu.Unlock()
	b.p.Wait()
}
