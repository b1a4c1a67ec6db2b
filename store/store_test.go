package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/fsx"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/store"
)

// faults sits in front of a real registry and counts or spoils its blob
// downloads.
type faults struct {
	served    atomic.Int64 // blob bytes sent
	gets      atomic.Int64 // blob GETs
	ranges    atomic.Int64 // blob GETs with a Range header
	cutAfter  atomic.Int64 // > 0: the next blob GET is cut after this many bytes
	stall     atomic.Bool  // the next blob GET goes quiet after cutAfter bytes instead
	noRanges  bool         // drop Range headers, like a registry without range support
	flipFirst bool         // change the first byte of every blob sent
}

func (f *faults) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") {
			next.ServeHTTP(w, r)
			return
		}
		f.gets.Add(1)
		if r.Header.Get("Range") != "" {
			f.ranges.Add(1)
		}
		if f.noRanges {
			r.Header.Del("Range")
		}
		next.ServeHTTP(&spoiler{ResponseWriter: w, f: f, cut: f.cutAfter.Swap(0), stall: f.stall.Swap(false), ctx: r.Context(), first: f.flipFirst && r.Header.Get("Range") == ""}, r)
	})
}

type spoiler struct {
	http.ResponseWriter
	f     *faults
	cut   int64
	stall bool
	ctx   context.Context
	sent  int64
	first bool
}

func (s *spoiler) Write(p []byte) (int, error) {
	if s.cut > 0 && s.sent+int64(len(p)) > s.cut {
		n, _ := s.ResponseWriter.Write(p[:s.cut-s.sent])
		s.f.served.Add(int64(n))
		s.ResponseWriter.(http.Flusher).Flush()
		if s.stall {
			<-s.ctx.Done() // quiet until the client gives up
		}
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	if s.first && s.sent == 0 && len(p) > 0 {
		p = append([]byte{p[0] ^ 0xff}, p[1:]...)
	}
	n, err := s.ResponseWriter.Write(p)
	s.sent += int64(n)
	s.f.served.Add(int64(n))
	return n, err
}

func setup(t *testing.T, f *faults, size int) (*registry.Repository, ocispec.Descriptor, []byte) {
	t.Helper()
	host := testutil.Registry(t, testutil.Olareg, f.wrap)
	ref, err := registry.ParseReference(host + "/store/test:v1")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.Open(context.Background(), ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: int64(size)}
	if _, err := repo.PushBlob(context.Background(), desc, func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}); err != nil {
		t.Fatal(err)
	}
	return repo, desc, data
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkBlob(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, not the blob's %d", path, len(got), len(want))
	}
}

func partials(t *testing.T, s *store.Store) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.Dir(), "partial", "sha256-*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if !strings.HasSuffix(n, ".lock") {
			out = append(out, filepath.Base(n))
		}
	}
	return out
}

// split makes a fetch split its one stream as soon as it can.
func split(parallel int) store.FetchOptions {
	return store.FetchOptions{Parallel: parallel, SegmentSize: 1 << 20, SplitAfter: time.Nanosecond, SplitBelow: 1 << 50}
}

func withMeter(o store.FetchOptions, busyAbove int64) store.FetchOptions {
	o.Meter, o.BusyAbove = &store.Meter{}, busyAbove
	return o
}

func TestFetchOneStreamOrSplit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  store.FetchOptions
		split bool
	}{
		{"one stream", store.FetchOptions{}, false},
		{"fast stream not split", store.FetchOptions{Parallel: 4, SegmentSize: 1 << 20}, false},
		{"slow stream split", split(4), true},
		// With a meter: the same slow stream, as part of a pull that moves
		// more (BusyAbove 1 B/s) or less (2^50 B/s) than the busy mark.
		{"slow stream of a busy pull not split", withMeter(split(4), 1), false},
		{"slow stream of a quiet pull split", withMeter(split(4), 1<<50), true},
	} {
		f := &faults{}
		repo, desc, data := setup(t, f, 5<<20+123)
		s := openStore(t)
		var reported atomic.Int64
		opts := tc.opts
		opts.Progress = func(n int64) { reported.Add(n) }
		p, err := fetchPath(s, context.Background(), desc, repo, opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		checkBlob(t, p, data)
		if reported.Load() != desc.Size {
			t.Errorf("%s: reported %d bytes, want %d", tc.name, reported.Load(), desc.Size)
		}
		// Split: the whole-blob stream, a one-byte probe, then the ranges
		// after the first segment (at least two).
		if split := f.ranges.Load() >= 3; split != tc.split || (!tc.split && f.gets.Load() != 1) {
			t.Errorf("%s: %d GETs, %d ranged", tc.name, f.gets.Load(), f.ranges.Load())
		}
		if left := partials(t, s); len(left) != 0 {
			t.Errorf("%s: partial files left: %v", tc.name, left)
		}
		// Stored: the next fetch re-hashes it and sends nothing.
		f.served.Store(0)
		if _, err := fetchPath(s, context.Background(), desc, repo, store.FetchOptions{}); err != nil || f.served.Load() != 0 {
			t.Errorf("%s: second fetch: %v, %d bytes served", tc.name, err, f.served.Load())
		}
	}
}

// A connection cut mid-blob is retried from where it stopped, in the
// same fetch.
func TestCutConnectionResumesWithRange(t *testing.T) {
	f := &faults{}
	repo, desc, data := setup(t, f, 3<<20)
	s := openStore(t)
	f.cutAfter.Store(1 << 20)
	p, err := fetchPath(s, context.Background(), desc, repo, store.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkBlob(t, p, data)
	if f.gets.Load() != 2 || f.ranges.Load() != 1 || f.served.Load() != desc.Size {
		t.Errorf("%d GETs, %d ranged, %d bytes served; want 2, 1, %d", f.gets.Load(), f.ranges.Load(), f.served.Load(), desc.Size)
	}
}

// A response that goes quiet mid-blob is given up after the idle timeout
// and the rest asked for by range.
func TestQuietResponseIsRetried(t *testing.T) {
	f := &faults{}
	repo, desc, data := setup(t, f, 3<<20)
	s := openStore(t)
	f.cutAfter.Store(1 << 20)
	f.stall.Store(true)
	p, err := fetchPath(s, context.Background(), desc, repo, store.FetchOptions{IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkBlob(t, p, data)
	if f.gets.Load() != 2 || f.ranges.Load() != 1 {
		t.Errorf("%d GETs, %d ranged; want 2, 1", f.gets.Load(), f.ranges.Load())
	}
}

// asking wraps a real repository and adds up what is asked of it, on the
// client's side (a server may still be handed a request the client has
// already given up on).
type asking struct {
	store.Source
	asked  atomic.Int64 // bytes asked for by range
	whole  atomic.Int64 // requests for the whole blob
	ranges atomic.Int64 // requests for a range
}

func (a *asking) FetchRange(ctx context.Context, desc ocispec.Descriptor, off, n int64) (io.ReadCloser, bool, error) {
	if off == 0 && (n < 0 || n >= desc.Size) {
		a.whole.Add(1)
	} else {
		a.ranges.Add(1)
		a.asked.Add(min(n, desc.Size-off))
	}
	return a.Source.FetchRange(ctx, desc, off, n)
}

// interrupt fetches desc until about half of it has arrived, then
// cancels, as a killed process would stop.
func interrupt(t *testing.T, s *store.Store, repo *registry.Repository, desc ocispec.Descriptor, opts store.FetchOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got atomic.Int64
	opts.Progress = func(n int64) {
		if got.Add(n) >= desc.Size/2 {
			cancel()
		}
	}
	if _, err := fetchPath(s, ctx, desc, repo, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted fetch: %v", err)
	}
	if len(partials(t, s)) != 2 { // the bytes and their record
		t.Fatalf("interrupted fetch left %v", partials(t, s))
	}
}

func TestInterruptedFetchResumes(t *testing.T) {
	for _, parallel := range []int{1, 3} {
		f := &faults{}
		repo, desc, data := setup(t, f, 8<<20)
		s := openStore(t)
		opts := split(parallel)
		interrupt(t, s, repo, desc, opts)
		src := &asking{Source: repo}
		var kept atomic.Int64
		opts.Progress = func(n int64) {
			if kept.Load() == 0 {
				kept.Store(n) // the first report is what was kept
			}
		}
		p, err := fetchPath(s, context.Background(), desc, src, opts)
		if err != nil {
			t.Fatalf("parallel %d: resumed fetch: %v", parallel, err)
		}
		checkBlob(t, p, data)
		if kept.Load() < desc.Size/4 || src.whole.Load() != 0 || src.asked.Load() != desc.Size-kept.Load() {
			t.Errorf("parallel %d: kept %d, then asked for %d bytes (want the other %d, by range)", parallel, kept.Load(), src.asked.Load(), desc.Size-kept.Load())
		}
	}
}

// Kept bytes are not trusted: if they were spoiled, the digest fails and
// the blob is fetched once more, whole.
func TestResumeRehashesKeptBytes(t *testing.T) {
	f := &faults{}
	repo, desc, data := setup(t, f, 4<<20)
	s := openStore(t)
	interrupt(t, s, repo, desc, store.FetchOptions{})
	part := filepath.Join(s.Dir(), "partial", "sha256-"+desc.Digest.Encoded())
	fh, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt([]byte("spoiled"), 100); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	src := &asking{Source: repo}
	p, err := fetchPath(s, context.Background(), desc, src, store.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkBlob(t, p, data)
	if src.ranges.Load() != 1 || src.whole.Load() != 1 {
		t.Errorf("%d range and %d whole requests: want the rest by range, then the whole blob again", src.ranges.Load(), src.whole.Load())
	}
}

// A registry that ignores Range sends the whole blob: the fetch takes it
// from the start.
func TestRegistryWithoutRanges(t *testing.T) {
	f := &faults{}
	repo, desc, data := setup(t, f, 4<<20)
	s := openStore(t)
	interrupt(t, s, repo, desc, store.FetchOptions{})
	f.noRanges = true
	p, err := fetchPath(s, context.Background(), desc, repo, split(4))
	if err != nil {
		t.Fatal(err)
	}
	checkBlob(t, p, data)
}

func TestTamperedBlobIsRefusedAndNotKept(t *testing.T) {
	f := &faults{flipFirst: true}
	repo, desc, _ := setup(t, f, 1<<20)
	s := openStore(t)
	_, err := fetchPath(s, context.Background(), desc, repo, store.FetchOptions{})
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("tampered blob: %v, want a digest mismatch", err)
	}
	if left := partials(t, s); len(left) != 0 {
		t.Errorf("tampered blob left %v", left)
	}
	if _, ok, err := s.Get(context.Background(), desc); ok || err != nil {
		t.Errorf("tampered blob stored: %v %v", ok, err)
	}
}

// A stored blob changed in place (through a pulled file's hard link) is
// found out and dropped, and the pulled file keeps its inode.
func TestGetRehashesAndPruneKeepsLinkedBlobs(t *testing.T) {
	f := &faults{}
	repo, desc, _ := setup(t, f, 1<<20)
	s := openStore(t)
	p, err := fetchPath(s, context.Background(), desc, repo, store.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pulled := filepath.Join(t.TempDir(), "weights.bin")
	if err := os.Link(p, pulled); err != nil {
		t.Fatal(err)
	}
	if freed, err := s.Prune(); err != nil || freed != 0 {
		t.Fatalf("prune of a linked blob freed %d: %v", freed, err)
	}
	if err := os.WriteFile(pulled, []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(context.Background(), desc); ok || err != nil {
		t.Fatalf("changed blob reported stored: %v %v", ok, err)
	}
	if got, _ := os.ReadFile(pulled); string(got) != "edited" {
		t.Fatalf("pulled file changed by Get: %q", got)
	}
	p, err = fetchPath(s, context.Background(), desc, repo, store.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if freed, err := s.Prune(); err != nil || freed != desc.Size {
		t.Fatalf("prune freed %d, want %d: %v", freed, desc.Size, err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pruned blob still there: %v", err)
	}
}

// Two fetches of one blob at once download it once.
func TestConcurrentFetchesShareOneDownload(t *testing.T) {
	f := &faults{}
	repo, desc, data := setup(t, f, 2<<20)
	s := openStore(t)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := fetchPath(s, context.Background(), desc, repo, store.FetchOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			checkBlob(t, p, data)
		}()
	}
	wg.Wait()
	if f.gets.Load() != 1 {
		t.Errorf("%d downloads, want 1", f.gets.Load())
	}
}

// fetchPath fetches desc and returns its path in the store, after checking
// the open file Fetch returns is at offset 0 and is what that path names.
func fetchPath(s *store.Store, ctx context.Context, desc ocispec.Descriptor, src store.Source, opts store.FetchOptions) (string, error) {
	f, err := s.Fetch(ctx, desc, src, opts)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != 0 {
		return "", fmt.Errorf("Fetch returned the blob at offset %d, %v", off, err)
	}
	held, err := f.Stat()
	if err != nil {
		return "", err
	}
	if named, err := os.Lstat(f.Name()); err != nil || !os.SameFile(held, named) {
		return "", fmt.Errorf("Fetch returned a file that is not %s (%v)", f.Name(), err)
	}
	return f.Name(), nil
}

// A crash between a progress record's write and its rename leaves its
// temporary in partial/: prune removes it, unless a fetch of that blob
// holds its lock (it may be writing that very file).
func TestPruneRemovesLeftoverProgressTemporaries(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	blob := "sha256-" + strings.Repeat("ab", 32)
	busy := "sha256-" + strings.Repeat("cd", 32)
	left := filepath.Join(dir, "partial", "."+blob+".json.123456.tmp")
	held := filepath.Join(dir, "partial", "."+busy+".json.654321.tmp")
	for _, p := range []string{left, held} {
		if err := os.WriteFile(p, []byte(`{"ranges":[]}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(dir, "partial", busy+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if ok, err := fsx.TryLock(lock); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	freed, err := s.Prune()
	if err != nil || freed != int64(len(`{"ranges":[]}`)) {
		t.Fatalf("prune freed %d, %v; want the leftover's %d bytes", freed, err, len(`{"ranges":[]}`))
	}
	if _, err := os.Lstat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temporary kept: %v", err)
	}
	if _, err := os.Lstat(held); err != nil {
		t.Errorf("the temporary of a fetch in progress was removed: %v", err)
	}
}

// Abandon removes what an interrupted fetch of a blob left, but not while
// a fetch of it runs (holds its lock).
func TestAbandon(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	left, busy := digest.Digest("sha256:"+strings.Repeat("ab", 32)), digest.Digest("sha256:"+strings.Repeat("cd", 32))
	name := func(d digest.Digest) string { return filepath.Join(dir, "partial", "sha256-"+d.Encoded()) }
	for _, d := range []digest.Digest{left, busy} {
		for _, p := range []string{name(d), name(d) + ".json"} {
			if err := os.WriteFile(p, []byte(`{"ranges":[]}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	lock, err := os.OpenFile(name(busy)+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if ok, err := fsx.TryLock(lock); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	s.Abandon(left)
	s.Abandon(busy)
	for _, p := range []string{name(left), name(left) + ".json"} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s kept: %v", p, err)
		}
	}
	for _, p := range []string{name(busy), name(busy) + ".json"} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("a fetch in progress lost %s: %v", p, err)
		}
	}
}
