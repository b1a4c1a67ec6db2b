package store

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/fsx"
	"github.com/vessel-oci/vessel/internal/iox"
)

// DefaultSegmentSize is the largest range a split stream is cut into:
// large enough that a request's overhead is small, small enough that a
// resumed fetch repeats little.
const DefaultSegmentSize = 64 << 20

// How often a fetch records its progress: a fetch killed outright loses
// at most what arrived since.
const saveEvery = 250 * time.Millisecond

// Defaults of the splitting rule (FetchOptions.Parallel): a stream still
// below 128 MiB/s after half a second is held back by its link, not by
// this machine, and more streams will go faster.
const (
	DefaultSplitAfter = 500 * time.Millisecond
	DefaultSplitBelow = 128 << 20
	// minSplit is the smallest range a split makes.
	minSplit = 8 << 20
)

// DefaultIdleTimeout is FetchOptions.IdleTimeout's default.
const DefaultIdleTimeout = 60 * time.Second

// Source reads part of a blob. registry.Repository is one.
type Source interface {
	// FetchRange returns n bytes of the blob from offset off (n < 0: to
	// the end). ranged false means the source ignored the range and the
	// reader holds the whole blob from offset 0.
	FetchRange(ctx context.Context, desc ocispec.Descriptor, off, n int64) (rc io.ReadCloser, ranged bool, err error)
}

// FetchOptions tune one fetch.
type FetchOptions struct {
	// Parallel is how many ranges of one blob may be fetched at once; <= 1
	// fetches it in one stream. A blob starts as one stream (hashed as it
	// is written, nothing read twice) and is split into ranges only when
	// that stream turns out slow: slower than SplitBelow after SplitAfter,
	// with enough left to share. A fast local link is then never
	// split, and a long, thin one is filled with parallel streams.
	Parallel int
	// SplitAfter (<= 0: DefaultSplitAfter) and SplitBelow (bytes per
	// second; 0: DefaultSplitBelow, < 0: never split) tune the rule above.
	SplitAfter time.Duration
	SplitBelow int64
	// Meter, if set, is shared by the fetches of one pull: a slow stream
	// is not split while all of them together receive more than BusyAbove
	// bytes per second (<= 0: DefaultBusyAbove), the mark of a busy
	// machine rather than a thin link.
	Meter     *Meter
	BusyAbove int64
	// SegmentSize is the largest range a split makes; <= 0 means DefaultSegmentSize.
	SegmentSize int64
	// IdleTimeout gives up on a response that sends nothing for this long
	// (a link that died without a reset), and asks again from where it
	// stopped; <= 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Progress, if set, hears how many bytes of the blob became present:
	// first what an earlier fetch left, then what arrives.
	Progress func(n int64)
}

// Fetch makes sure the store holds desc and returns it open, at offset 0:
// the very file whose digest was checked (its Name is its path in the
// store), so a name swapped in the store after the check changes nothing
// read or linked from it. The caller closes it. A blob
// already stored is re-hashed (Get); one partly fetched before is resumed
// from what is on disk, which is hashed again with the rest, and if the
// whole then fails its digest the fetch starts once more from nothing
// (the kept bytes may have been the bad ones). The blob is renamed into
// the store only once it has its declared size and digest, and is synced.
// On failure a partial blob is kept for the next Fetch, except when its
// digest was wrong.
func (s *Store) Fetch(ctx context.Context, desc ocispec.Descriptor, src Source, opts FetchOptions) (*os.File, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("content store: %w: %v", errdef.ErrDigestMismatch, err)
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("content store: %w: negative size %d", errdef.ErrSizeMismatch, desc.Size)
	}
	partial := s.partial(desc.Digest)
	unlock, err := lock(ctx, partial+".lock")
	if err != nil {
		return nil, fmt.Errorf("content store: lock %s: %w", desc.Digest, err)
	}
	defer unlock()
	f, ok, err := s.Get(ctx, desc)
	if err != nil || ok {
		if ok && opts.Progress != nil {
			opts.Progress(desc.Size)
		}
		return f, err
	}
	kept, f, err := fetchPartial(ctx, partial, desc, src, opts)
	if kept > 0 && (errors.Is(err, errdef.ErrDigestMismatch) || errors.Is(err, errdef.ErrSizeMismatch)) {
		_, f, err = fetchPartial(ctx, partial, desc, src, opts)
	}
	if err != nil {
		return nil, err
	}
	final := s.path(desc.Digest)
	err = os.MkdirAll(filepath.Dir(final), 0o755)
	if err == nil {
		err = os.Rename(partial, final)
	}
	var blob *os.File
	if err == nil {
		blob, err = reopen(f, final)
	}
	f.Close()
	if err != nil {
		return nil, err
	}
	os.Remove(partial + ".json")
	// The directory is not synced: after a crash a blob missing from the
	// store is only fetched again, and a pull syncs its own links to it.
	return blob, nil
}

// reopen opens the checked file f at its new name, so that the file
// returned is named by its path in the store, and makes sure it is f
// still: another name renamed over it since is refused.
func reopen(f *os.File, name string) (*os.File, error) {
	want, err := f.Stat()
	if err != nil {
		return nil, err
	}
	g, err := fsx.OpenRegular(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("content store: %w: %s: %w", errdef.ErrUnsafePath, name, err)
	}
	if got, err := g.Stat(); err != nil || !os.SameFile(got, want) {
		g.Close()
		return nil, fmt.Errorf("content store: %w: %s was replaced as it was stored", errdef.ErrUnsafePath, name)
	}
	return g, nil
}

func (o FetchOptions) withDefaults() FetchOptions {
	o.Parallel = max(o.Parallel, 1)
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SplitAfter <= 0 {
		o.SplitAfter = DefaultSplitAfter
	}
	if o.SplitBelow == 0 {
		o.SplitBelow = DefaultSplitBelow
	}
	if o.BusyAbove <= 0 {
		o.BusyAbove = DefaultBusyAbove
	}
	return o
}

// fetchPartial completes the partial file for desc and checks it. It
// returns how many bytes were already there when it started. A wrong
// digest removes the partial file and its record.
func fetchPartial(ctx context.Context, partial string, desc ocispec.Descriptor, src Source, opts FetchOptions) (kept int64, _ *os.File, err error) {
	st := loadState(partial, desc)
	if st == nil {
		st = newState(desc)
		os.Remove(partial) // no record of what it holds: start over
	}
	f, err := openPartial(partial)
	if err != nil {
		return 0, nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	kept = st.present()
	if err := fsx.Preallocate(f, desc.Size); err != nil {
		if kept == 0 {
			removePartial(partial)
		}
		return kept, nil, fmt.Errorf("fetch %s: no space for its %d bytes in %s: %w", desc.Digest, desc.Size, filepath.Dir(partial), err)
	}
	if opts.Progress != nil && kept > 0 {
		opts.Progress(kept)
	}
	fe := &fetch{f: f, desc: desc, src: src, st: st, path: partial, opts: opts.withDefaults()}
	fe.cond = sync.NewCond(&fe.mu)
	err = fe.run(ctx)
	if err == nil {
		err = f.Sync()
	}
	if errors.Is(err, errdef.ErrDigestMismatch) || errors.Is(err, errdef.ErrSizeMismatch) {
		removePartial(partial)
	}
	if err != nil {
		return kept, nil, fmt.Errorf("fetch %s: %w", desc.Digest, err)
	}
	return kept, f, nil
}

// fetch is one blob being completed: workers write the missing ranges
// at their offsets while a hasher reads the file behind them, in order,
// so the digest is ready soon after the last byte lands.
type fetch struct {
	f        *os.File
	path     string
	desc     ocispec.Descriptor
	src      Source
	opts     FetchOptions
	inline   hash.Hash // set: copy hashes what it writes of segment 0 (one stream, in order)
	splitCtx context.Context
	noSplit  bool       // the split was decided on, or is not possible
	rest     chan error // set once the one stream was split: the other ranges' outcome

	mu      sync.Mutex
	cond    *sync.Cond
	st      *state
	stopped bool // the workers are done: what is not written now never will be
}

func (fe *fetch) run(ctx context.Context) error {
	todo := fe.st.missing()
	// The first request tells whether the source honours ranges. If it
	// does not, the blob comes in one stream from offset 0, whatever was
	// kept.
	var first io.ReadCloser
	if len(todo) > 0 {
		rc, ranged, err := fe.open(ctx, todo[0])
		if err != nil {
			return err
		}
		if !ranged {
			fe.mu.Lock()
			fe.st.reset()
			fe.mu.Unlock()
			todo = []int{0}
		}
		first = rc
	}
	defer fe.saveLoop()()
	if len(fe.st.Segments) == 1 {
		return fe.single(ctx, first)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return fe.hash(gctx) })
	g.Go(func() error {
		err := fe.fetchAll(gctx, todo, first, fe.opts.Parallel)
		fe.workersDone()
		return err
	})
	return g.Wait()
}

// single fetches a blob in one stream, hashing each byte as it is written
// (after what was kept, read back first), so nothing is read twice. If the
// stream splits (see FetchOptions.Parallel), the rest of the blob is
// hashed behind the other ranges as they land.
func (fe *fetch) single(ctx context.Context, first io.ReadCloser) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := fe.desc.Digest.Algorithm().Hash()
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	if err := hashRange(ctx, fe.f, h, 0, fe.st.Segments[0].Done, *buf); err != nil {
		if first != nil {
			first.Close()
		}
		return err
	}
	if first != nil {
		fe.inline = h
		fe.splitCtx = ctx
		if err := fe.segment(ctx, 0, first); err != nil {
			if fe.rest != nil {
				cancel()
				<-fe.rest
			}
			return err
		}
	}
	if fe.rest != nil {
		fe.mu.Lock()
		done := fe.st.Segments[0].End
		fe.mu.Unlock()
		herr := fe.hashFrom(ctx, h, done, *buf)
		if err := <-fe.rest; err != nil {
			return err
		}
		if herr != nil {
			return herr
		}
	}
	return fe.check(h)
}

// maybeSplit is called by the one stream of segment 0 as bytes arrive: if
// the stream is slow (FetchOptions.Parallel), it ends segment 0 one
// segment ahead of off and starts parallel range requests for the rest.
func (fe *fetch) maybeSplit(from, off int64, since time.Time) {
	o := fe.opts
	if fe.rest != nil || fe.inline == nil || fe.noSplit || o.Parallel <= 1 || o.SplitBelow < 0 {
		return
	}
	elapsed := time.Since(since)
	if elapsed < o.SplitAfter || float64(off-from)/elapsed.Seconds() >= float64(o.SplitBelow) || o.Meter.busy(o.BusyAbove) {
		return
	}
	// Ranges of an equal share of what is left, between minSplit and
	// SegmentSize; segment 0 keeps going for one of them.
	seg := min(o.SegmentSize, max(minSplit, (fe.desc.Size-off)/int64(o.Parallel)))
	cut := off + seg
	if fe.desc.Size-cut < seg {
		return
	}
	// Decided once: split only where a one-byte range request comes back
	// as a range.
	fe.noSplit = true
	rc, ranged, err := fe.src.FetchRange(fe.splitCtx, fe.desc, fe.desc.Size-1, 1)
	if err != nil {
		return
	}
	rc.Close()
	if !ranged {
		return
	}
	fe.mu.Lock()
	fe.st.Segments[0].End = cut
	var todo []int
	for at := cut; at < fe.desc.Size; at += seg {
		todo = append(todo, len(fe.st.Segments))
		fe.st.Segments = append(fe.st.Segments, segment{Off: at, End: min(at+seg, fe.desc.Size)})
	}
	fe.mu.Unlock()
	fe.rest = make(chan error, 1)
	go func() {
		err := fe.fetchAll(fe.splitCtx, todo, nil, o.Parallel-1)
		fe.workersDone()
		fe.rest <- err
	}()
}

// fetchAll fetches the segments in todo, parallel at a time, in order, so
// the hasher behind them never waits long; first is the open response for
// todo[0].
func (fe *fetch) fetchAll(ctx context.Context, todo []int, first io.ReadCloser, parallel int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for k, i := range todo {
		var rc io.ReadCloser
		if k == 0 {
			rc = first
		}
		if gctx.Err() != nil {
			if rc != nil {
				rc.Close()
			}
			break
		}
		g.Go(func() error { return fe.segment(gctx, i, rc) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// open requests what segment i still lacks.
func (fe *fetch) open(ctx context.Context, i int) (io.ReadCloser, bool, error) {
	fe.mu.Lock()
	s := fe.st.Segments[i]
	fe.mu.Unlock()
	off := s.Off + s.Done
	return fe.src.FetchRange(ctx, fe.desc, off, s.End-off)
}

// segment fetches the rest of segment i into place (from rc if given). A
// connection cut after some bytes arrived is retried from where it
// stopped, a few times.
func (fe *fetch) segment(ctx context.Context, i int, rc io.ReadCloser) error {
	const retries = 3
	for attempt := 0; ; attempt++ {
		if rc == nil {
			var ranged bool
			var err error
			rc, ranged, err = fe.open(ctx, i)
			if err != nil {
				return err
			}
			if !ranged {
				rc.Close()
				return fmt.Errorf("the registry stopped honouring range requests")
			}
		}
		// A response that goes quiet is closed, which fails its read.
		body := rc
		quiet := time.AfterFunc(fe.opts.IdleTimeout, func() { body.Close() })
		n, err := fe.copy(ctx, i, &watched{r: rc, quiet: quiet, idle: fe.opts.IdleTimeout})
		quiet.Stop()
		rc.Close()
		rc = nil
		if err == nil || ctx.Err() != nil || n == 0 || attempt == retries ||
			errors.Is(err, errdef.ErrSizeMismatch) || errors.Is(err, errWrite) {
			return err
		}
	}
}

var errWrite = errors.New("write to the content store")

// watched pushes back its idle timer on every read that brings bytes.
type watched struct {
	r     io.Reader
	quiet *time.Timer
	idle  time.Duration
}

func (w *watched) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.quiet.Reset(w.idle)
	}
	return n, err
}

// copy writes what rc holds of segment i at its offsets; it returns how
// many bytes it wrote. More bytes than the segment lacks is a size
// mismatch; fewer is io.ErrUnexpectedEOF.
func (fe *fetch) copy(ctx context.Context, i int, rc io.Reader) (int64, error) {
	fe.mu.Lock()
	s := fe.st.Segments[i]
	fe.mu.Unlock()
	off, end := s.Off+s.Done, s.End
	r := &iox.ContextReader{Ctx: ctx, R: rc}
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	var written int64
	wb := fsx.Writeback{F: fe.f, Started: off}
	since := time.Now()
	for off < end {
		n, err := r.Read((*buf)[:min(int64(len(*buf)), end-off)])
		if n > 0 {
			if _, werr := fe.f.WriteAt((*buf)[:n], off); werr != nil {
				return written, fmt.Errorf("%w: %w", errWrite, werr)
			}
			if fe.inline != nil && i == 0 {
				fe.inline.Write((*buf)[:n])
			}
			off += int64(n)
			written += int64(n)
			fe.mu.Lock()
			fe.st.Segments[i].Done = off - s.Off
			fe.cond.Broadcast()
			fe.mu.Unlock()
			if fe.opts.Progress != nil {
				fe.opts.Progress(int64(n))
			}
			fe.opts.Meter.add(int64(n))
			wb.Wrote(off)
			if i == 0 {
				fe.maybeSplit(s.Off+s.Done, off, since)
				fe.mu.Lock()
				end = fe.st.Segments[0].End // a split ends it early
				fe.mu.Unlock()
			}
		}
		if err == io.EOF && off < end {
			// A clean end: the source says the blob is this short. (A cut
			// connection is io.ErrUnexpectedEOF, and retried.)
			return written, fmt.Errorf("%w: the blob ended at byte %d of %d", errdef.ErrSizeMismatch, off, fe.desc.Size)
		}
		if err != nil && err != io.EOF {
			return written, err
		}
	}
	if end != s.End {
		return written, nil // split: the response goes on, others fetch the rest
	}
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n > 0 {
		return written, fmt.Errorf("%w: more than the %d bytes asked for at %d", errdef.ErrSizeMismatch, end-s.Off-s.Done, s.Off+s.Done)
	}
	return written, nil
}

// hash reads the file from its start as the contiguous written prefix
// grows, and checks the digest once it has all of it.
func (fe *fetch) hash(ctx context.Context) error {
	h := fe.desc.Digest.Algorithm().Hash()
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	if err := fe.hashFrom(ctx, h, 0, *buf); err != nil {
		return err
	}
	return fe.check(h)
}

// check compares the digest h computed with the blob's.
func (fe *fetch) check(h hash.Hash) error {
	if got := digest.NewDigest(fe.desc.Digest.Algorithm(), h); got != fe.desc.Digest {
		return fmt.Errorf("%w: got %s", errdef.ErrDigestMismatch, got)
	}
	return nil
}

// workersDone tells the hasher that no more bytes will land.
func (fe *fetch) workersDone() {
	fe.mu.Lock()
	fe.stopped = true
	fe.cond.Broadcast()
	fe.mu.Unlock()
}

// hashFrom feeds h the file from done to its end, reading each part once
// the written prefix has grown past it.
func (fe *fetch) hashFrom(ctx context.Context, h hash.Hash, done int64, buf []byte) error {
	for done < fe.desc.Size {
		fe.mu.Lock()
		for !fe.stopped && fe.st.frontier() == done {
			fe.cond.Wait()
		}
		front, stopped := fe.st.frontier(), fe.stopped
		fe.mu.Unlock()
		if stopped && front == done {
			// The workers' error is the one to report; if they claim
			// success, the record is wrong.
			return fmt.Errorf("fetch stopped at byte %d of %d", done, fe.desc.Size)
		}
		if err := hashRange(ctx, fe.f, h, done, front, buf); err != nil {
			return err
		}
		done = front
	}
	return nil
}

func hashRange(ctx context.Context, f *os.File, h hash.Hash, from, to int64, buf []byte) error {
	for from < to {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.ReadAt(buf[:min(int64(len(buf)), to-from)], from)
		h.Write(buf[:n])
		from += int64(n)
		if err != nil && !(err == io.EOF && from == to) {
			return err
		}
	}
	return nil
}

// saveLoop records progress every saveEvery until stopped, and once more
// then.
func (fe *fetch) saveLoop() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(saveEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fe.save()
			case <-done:
				fe.save()
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (fe *fetch) save() {
	fe.mu.Lock()
	data := fe.st.encode()
	fe.mu.Unlock()
	// Best effort: without a record the next fetch starts over.
	_ = fsx.WriteFile(fe.path+".json", data, 0o644, fsx.Replaceable)
}

// openPartial opens (or creates) a partial blob without following a link
// planted at its name: such a name is removed and the blob starts over.
func openPartial(p string) (*os.File, error) {
	f, err := fsx.OpenRegular(p, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, fsx.ErrNotRegular) {
		removePartial(p)
		return fsx.OpenRegular(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	}
	return f, err
}

func removePartial(p string) {
	os.Remove(p)
	os.Remove(p + ".json")
}

// buffers are 256 KiB: a socket read rarely brings more, and a pull holds
// one per range in flight.
var buffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
