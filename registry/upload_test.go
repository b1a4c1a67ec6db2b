package registry_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
)

// quirky stands in front of a registry: it refuses blob PUTs with a body
// larger than maxPut (as Artifact Registry and some proxies do), and PATCH
// altogether when noChunks is set; it counts PATCH requests.
func quirky(maxPut int64, noChunks bool, patches *atomic.Int32) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			upload := strings.Contains(r.URL.Path, "/blobs/uploads/")
			switch {
			case upload && r.Method == http.MethodPut && maxPut > 0 && r.ContentLength > maxPut:
				http.Error(w, `{"errors":[{"code":"SIZE_INVALID","message":"too large"}]}`, http.StatusRequestEntityTooLarge)
				return
			case upload && r.Method == http.MethodPatch && noChunks:
				http.Error(w, "chunked uploads not supported", http.StatusMethodNotAllowed)
				return
			case upload && r.Method == http.MethodPatch:
				patches.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
}

func pushAndCheck(t *testing.T, host string, opts registry.Options, blob []byte) {
	t.Helper()
	ctx := context.Background()
	ref, _ := registry.ParseReference(host + "/m:v1")
	repo, err := registry.Open(ctx, ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	sent, err := repo.PushBlob(ctx, desc, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil })
	if err != nil || !sent {
		t.Fatalf("push: sent %v, %v", sent, err)
	}
	rc, err := repo.FetchBlob(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, blob) {
		t.Fatalf("blob came back as %d different bytes", len(got))
	}
}

func TestUploadFallsBackToChunks(t *testing.T) {
	var patches atomic.Int32
	host := testutil.Registry(t, testutil.Olareg, quirky(1<<20, false, &patches))
	blob := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MB
	var logs bytes.Buffer
	pushAndCheck(t, host, registry.Options{ChunkSize: 0, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, blob[:len(blob)/2])
	// Refused in one request, so it went with DefaultChunkSize: one chunk.
	if patches.Load() != 1 || !strings.Contains(logs.String(), "uploading in chunks") {
		t.Fatalf("%d patches; log: %s", patches.Load(), logs.String())
	}
	patches.Store(0)
	pushAndCheck(t, host, registry.Options{ChunkSize: 1 << 20}, blob)
	if n := patches.Load(); n != 5 {
		t.Fatalf("%d chunks for %d bytes in 1 MiB chunks, want 5", n, len(blob))
	}
}

func TestUploadFallsBackToMonolithic(t *testing.T) {
	var patches atomic.Int32
	host := testutil.Registry(t, testutil.Olareg, quirky(0, true, &patches))
	var logs bytes.Buffer
	pushAndCheck(t, host, registry.Options{ChunkSize: 1 << 20, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, bytes.Repeat([]byte("x"), 3<<20))
	if !strings.Contains(logs.String(), "refused a chunked upload") || !strings.Contains(logs.String(), "one request") {
		t.Fatalf("log: %s", logs.String())
	}
}
