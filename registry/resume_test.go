package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
)

const chunk = 256 << 10

// tap stands in front of a registry and counts the upload body bytes the
// registry reads. PATCH number breakAt is cut off: the registry gets its
// first keep bytes and then a read error, the client a dropped connection;
// onBreak runs first. fakeRange, if set, answers upload status itself
// with that Range.
type tap struct {
	received atomic.Int64
	patches  atomic.Int32

	mu        sync.Mutex // the test changes these between pushes
	breakAt   int32
	keep      int64
	onBreak   func()
	fakeRange string
}

func (tp *tap) set(f func(*tap)) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	f(tp)
}

func (tp *tap) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/blobs/uploads/") {
			next.ServeHTTP(w, r)
			return
		}
		tp.mu.Lock()
		breakAt, keep, onBreak, fakeRange := tp.breakAt, tp.keep, tp.onBreak, tp.fakeRange
		tp.mu.Unlock()
		if r.Method == http.MethodGet && fakeRange != "" {
			w.Header().Set("Location", r.URL.String())
			w.Header().Set("Range", fakeRange)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method == http.MethodPatch && tp.patches.Add(1) == breakAt {
			if onBreak != nil {
				onBreak()
			}
			if keep > 0 {
				r.Body = io.NopCloser(io.MultiReader(counting{io.LimitReader(r.Body, keep), &tp.received}, failing{}))
				next.ServeHTTP(discard{}, r)
			}
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			conn.Close()
			return
		}
		r.Body = io.NopCloser(counting{r.Body, &tp.received})
		next.ServeHTTP(w, r)
	})
}

type counting struct {
	r io.Reader
	n *atomic.Int64
}

func (c counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("connection cut") }

// discard swallows the registry's answer to a request the client never sees answered.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

func blobOf(size int) ([]byte, ocispec.Descriptor) {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i * 7 / 3)
	}
	return b, ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(size)}
}

// pushBlob pushes blob to host/m, reading it from a file (seekable) or
// from memory (not).
func pushBlob(ctx context.Context, t *testing.T, host string, opts registry.Options, blob []byte, desc ocispec.Descriptor, fromFile bool) (*registry.Repository, error) {
	t.Helper()
	ref, err := registry.ParseReference(host + "/m:v1")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.Open(ctx, ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(src, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = repo.PushBlob(ctx, desc, func() (io.ReadCloser, error) {
		if fromFile {
			return os.Open(src)
		}
		return io.NopCloser(bytes.NewReader(blob)), nil
	})
	return repo, err
}

func checkBlob(t *testing.T, repo *registry.Repository, blob []byte, desc ocispec.Descriptor) {
	t.Helper()
	rc, err := repo.FetchBlob(context.Background(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if digest.FromBytes(got) != desc.Digest {
		t.Fatalf("registry holds %d bytes that are not the blob", len(got))
	}
}

func stateFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestUploadResumesBrokenChunk cuts the third chunk off part-way. olareg
// reports the bytes it kept and the upload goes on from there; the ggcr
// registry has no upload status (GET answers 400), so the upload starts
// over once.
func TestUploadResumesBrokenChunk(t *testing.T) {
	t.Parallel()
	const keep = 100_000
	for _, tc := range []struct {
		backend testutil.Backend
		extra   int64 // bytes sent twice
		log     string
	}{
		{testutil.Olareg, 0, "resumed upload at offset"},
		{testutil.NoReferrersAPI, 2*chunk + keep, "starting it over"},
	} {
		t.Run(string(tc.backend), func(t *testing.T) {
			t.Parallel()
			tp := &tap{breakAt: 3, keep: keep}
			host := testutil.Registry(t, tc.backend, tp.wrap)
			blob, desc := blobOf(5*chunk + 1234)
			var logs bytes.Buffer
			opts := registry.Options{ChunkSize: chunk, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			repo, err := pushBlob(context.Background(), t, host, opts, blob, desc, false)
			if err != nil {
				t.Fatalf("push: %v\nlog: %s", err, logs.String())
			}
			checkBlob(t, repo, blob, desc)
			if got, want := tp.received.Load(), desc.Size+tc.extra; got != want {
				t.Errorf("registry received %d bytes, want %d", got, want)
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log lacks %q: %s", tc.log, logs.String())
			}
			if strings.Contains(logs.String(), "?state=") || !strings.Contains(logs.String(), "/blobs/uploads/<session>") {
				t.Errorf("an upload session URL was logged, or the error was not: %s", logs.String())
			}
		})
	}
}

// TestUploadResumesAcrossRuns aborts a push after two chunks, as Ctrl-C
// would, then pushes again with the same state directory.
func TestUploadResumesAcrossRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		backend  testutil.Backend
		wantSent int64 // by the second run, of a 5-chunk blob
	}{
		{testutil.Olareg, 3 * chunk},
		{testutil.NoReferrersAPI, 5 * chunk}, // no upload status: fresh start
	} {
		t.Run(string(tc.backend), func(t *testing.T) {
			t.Parallel()
			tp := &tap{breakAt: 3}
			host := testutil.Registry(t, tc.backend, tp.wrap)
			blob, desc := blobOf(5 * chunk)
			dir := filepath.Join(t.TempDir(), "uploads")
			var logs bytes.Buffer
			opts := registry.Options{ChunkSize: chunk, UploadStateDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))}

			abortFirstRun(t, tp, host, opts, blob, desc)

			tp.received.Store(0)
			repo, err := pushBlob(context.Background(), t, host, opts, blob, desc, true)
			if err != nil {
				t.Fatalf("second push: %v\nlog: %s", err, logs.String())
			}
			checkBlob(t, repo, blob, desc)
			if got := tp.received.Load(); got != tc.wantSent {
				t.Errorf("second run sent %d bytes, want %d\nlog: %s", got, tc.wantSent, logs.String())
			}
			if files := stateFiles(t, dir); len(files) != 0 {
				t.Errorf("state left after the blob went in: %v", files)
			}
		})
	}
}

// abortFirstRun pushes until the third PATCH, where it cancels the push,
// and returns the state file left behind.
func abortFirstRun(t *testing.T, tp *tap, host string, opts registry.Options, blob []byte, desc ocispec.Descriptor) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tp.set(func(tp *tap) { tp.onBreak = cancel })
	// The error is the cancellation or the cut connection, whichever the
	// client notices first.
	if _, err := pushBlob(ctx, t, host, opts, blob, desc, true); err == nil {
		t.Fatal("aborted push succeeded")
	}
	tp.set(func(tp *tap) { tp.onBreak, tp.breakAt = nil, 0 })
	files := stateFiles(t, opts.UploadStateDir)
	if len(files) != 1 {
		t.Fatalf("state files after the aborted run: %v", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", fi, err)
	}
	return files[0]
}

// TestUploadStaleState: a saved session that cannot be used is dropped and
// the blob sent whole; one on another host is never contacted.
func TestUploadStaleState(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() {
		other.Close()
		if n := elsewhere.Load(); n != 0 {
			t.Errorf("the other host got %d requests", n)
		}
	})
	for _, tc := range []struct {
		name      string
		edit      func(loc *url.URL)
		fakeRange string
	}{
		{name: "session gone", edit: func(loc *url.URL) { loc.Path = loc.Path[:strings.LastIndex(loc.Path, "/")+1] + "gone" }},
		{name: "another host", edit: func(loc *url.URL) { loc.Host = strings.TrimPrefix(other.URL, "http://") }},
		{name: "offset beyond size", fakeRange: "0-99999999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp := &tap{breakAt: 3}
			host := testutil.Registry(t, testutil.Olareg, tp.wrap)
			blob, desc := blobOf(5 * chunk)
			dir := t.TempDir()
			var logs bytes.Buffer
			opts := registry.Options{ChunkSize: chunk, UploadStateDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			state := abortFirstRun(t, tp, host, opts, blob, desc)
			if tc.edit != nil {
				editLocation(t, state, tc.edit)
			}
			tp.set(func(tp *tap) { tp.fakeRange = tc.fakeRange })

			tp.received.Store(0)
			repo, err := pushBlob(context.Background(), t, host, opts, blob, desc, true)
			if err != nil {
				t.Fatalf("second push: %v\nlog: %s", err, logs.String())
			}
			checkBlob(t, repo, blob, desc)
			if got := tp.received.Load(); got != desc.Size {
				t.Errorf("second run sent %d bytes, want the whole %d", got, desc.Size)
			}
			if !strings.Contains(logs.String(), "starting fresh") {
				t.Errorf("log: %s", logs.String())
			}
			if files := stateFiles(t, dir); len(files) != 0 {
				t.Errorf("state left: %v", files)
			}
		})
	}
}

// editLocation rewrites the session URL in a state file, as a stale or
// tampered file would have it.
func editLocation(t *testing.T, path string, edit func(*url.URL)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	loc, err := url.Parse(st["location"].(string))
	if err != nil {
		t.Fatal(err)
	}
	edit(loc)
	st["location"] = loc.String()
	if data, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
