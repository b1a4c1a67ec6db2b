package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/store"
)

// drippingRegistry serves one blob: a request the drip function picks is
// answered one byte every 50 ms (never idle for long, never finished),
// the others at full speed, honouring Range.
func drippingRegistry(t *testing.T, blob []byte, desc ocispec.Descriptor, drip func(r *http.Request) bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/m/blobs/"+desc.Digest.String() {
			http.NotFound(w, r)
			return
		}
		body, status := blob, http.StatusOK
		if rng := r.Header.Get("Range"); rng != "" {
			from, to, _ := strings.Cut(strings.TrimPrefix(rng, "bytes="), "-")
			a, _ := strconv.Atoi(from)
			b, _ := strconv.Atoi(to)
			body, status = blob[a:b+1], http.StatusPartialContent
			w.Header().Set("Content-Range", "bytes "+from+"-"+to+"/"+strconv.Itoa(len(blob)))
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		if !drip(r) {
			w.Write(body)
			return
		}
		for i := range body {
			if _, err := w.Write(body[i : i+1]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func slowRepo(t *testing.T, host string) *registry.Repository {
	t.Helper()
	ref, err := registry.ParseReference(host + "/m:v1")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.Open(context.Background(), ref, registry.Options{MinRate: 1000, MinRateWindow: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// A registry that drips (20 bytes/s: never idle long enough for an idle
// timeout) is given up on at the low-speed limit, with an error that
// names the request and the limit.
func TestLowSpeedLimit(t *testing.T) {
	t.Parallel()
	blob, desc := blobOf(64 << 10)
	repo := slowRepo(t, drippingRegistry(t, blob, desc, func(*http.Request) bool { return true }))
	rc, _, err := repo.FetchRange(context.Background(), desc, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, registry.ErrTooSlow) || !strings.Contains(err.Error(), "--min-rate") || !strings.Contains(err.Error(), desc.Digest.Encoded()) {
		t.Fatalf("reading a dripping blob: %v, want ErrTooSlow naming the blob and the flag", err)
	}

	// A fetch into the store gives up too, after its resumes drip as well.
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(context.Background(), desc, repo, store.FetchOptions{}); !errors.Is(err, registry.ErrTooSlow) {
		t.Fatalf("store fetch from a dripping registry: %v, want ErrTooSlow", err)
	}
}

// A stream given up on as too slow is resumed by a range request on a new
// connection, which completes the blob.
func TestLowSpeedResumesByRange(t *testing.T) {
	t.Parallel()
	blob, desc := blobOf(64 << 10)
	var first atomic.Bool
	host := drippingRegistry(t, blob, desc, func(*http.Request) bool { return !first.Swap(true) })
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Fetch(context.Background(), desc, slowRepo(t, host), store.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("resumed blob: %d bytes, %v", len(got), err)
	}
}
