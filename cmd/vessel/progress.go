package main

import (
	"fmt"
	"io"
	"os"
	"sync"

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

func newProgress(c interface{ Bool(string) bool }, w io.Writer, verb string, phases int) progress {
	if c.Bool("quiet") {
		return nopProgress{}
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return newBars(w, phases)
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

// bars draws a bar per file and a total with throughput. phases is how
// many passes a file's bytes make (push: hash then upload; pull: one).
type bars struct {
	mu     sync.Mutex
	p      *mpb.Progress
	total  *mpb.Bar
	files  map[string]*mpb.Bar
	phases int64
}

func newBars(w io.Writer, phases int) *bars {
	return &bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32)), files: map[string]*mpb.Bar{}, phases: int64(phases)}
}

func (b *bars) handle(e workflow.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e.Kind {
	case workflow.EventPlan:
		b.total = b.p.AddBar(e.Size*b.phases, mpb.BarPriority(1<<30),
			mpb.PrependDecorators(decor.Name("total", decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f"), decor.Name("  "), decor.AverageSpeed(decor.SizeB1024(0), "% .1f")))
	case workflow.EventStart:
		if _, ok := b.files[e.Path]; !ok {
			b.files[e.Path] = b.p.AddBar(e.Size*b.phases, mpb.BarRemoveOnComplete(),
				mpb.PrependDecorators(decor.Name(e.Path, decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f")))
		}
	case workflow.EventBytes:
		if bar := b.files[e.Path]; bar != nil {
			bar.IncrInt64(e.Bytes)
		}
		if b.total != nil {
			b.total.IncrInt64(e.Bytes)
		}
	case workflow.EventDone:
		bar := b.files[e.Path]
		if bar == nil {
			return
		}
		if rest := e.Size*b.phases - bar.Current(); rest > 0 && b.total != nil {
			b.total.IncrInt64(rest) // a skipped upload still counts as done
		}
		bar.SetTotal(-1, true)
	}
}

func (b *bars) finish(ok bool) {
	b.mu.Lock()
	for _, bar := range b.files {
		if !bar.Completed() {
			bar.Abort(true)
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
