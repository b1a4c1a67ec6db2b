package registry_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
)

// storage serves blobs the registry redirects to, and records whether
// each request carried credentials.
type storage struct {
	mu    sync.Mutex
	auths []string // the Authorization header of each request
}

func (s *storage) serve(inner http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/storage")
		inner.ServeHTTP(w, r)
	})
}

func (s *storage) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

// A registry that needs a login redirects blob downloads to storage
// elsewhere, as Distribution does to S3: the blob arrives, and the
// registry's credentials go only where they came from, not to another
// host name, nor another port of the same host (which Go's client alone
// allows). oras-go's auth.Client does this since v2.7.0
// (GHSA-vh4v-2xq2-g5cg); this test keeps it so through upgrades.
func TestCredentialsDoNotFollowRedirects(t *testing.T) {
	ctx := context.Background()
	var inner http.Handler
	var redirectTo string // "" while pushing
	var mu sync.Mutex
	home := &storage{}
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		inner = next
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if strings.HasPrefix(r.URL.Path, "/storage/") {
				home.serve(next).ServeHTTP(w, r)
				return
			}
			mu.Lock()
			to := redirectTo
			mu.Unlock()
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") && to != "" {
				http.Redirect(w, r, to+"/storage"+r.URL.Path, http.StatusTemporaryRedirect)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	creds := credentials.NewMemoryStore()
	if err := creds.Put(ctx, host, auth.Credential{Username: "alice", Password: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	ref, err := registry.ParseReference(host + "/team/model:v1")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.Open(ctx, ref, registry.Options{Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("weights "), 4096)
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: int64(len(data))}
	if _, err := repo.PushBlob(ctx, desc, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }); err != nil {
		t.Fatal(err)
	}

	_, port, _ := strings.Cut(host, ":")
	otherName := &storage{}
	otherNameSrv := httptest.NewServer(otherName.serve(inner))
	t.Cleanup(otherNameSrv.Close)
	otherPort := &storage{}
	otherPortSrv := httptest.NewServer(otherPort.serve(inner))
	t.Cleanup(otherPortSrv.Close)
	for _, tc := range []struct {
		name     string
		to       string
		st       *storage
		withAuth bool
	}{
		{"another host name", strings.Replace(otherNameSrv.URL, "127.0.0.1", "localhost", 1), otherName, false},
		{"another port", otherPortSrv.URL, otherPort, false},
		{"the same origin", "http://127.0.0.1:" + port, home, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			redirectTo = tc.to
			mu.Unlock()
			rc, err := repo.FetchBlob(ctx, desc)
			if err != nil {
				t.Fatalf("fetch through the redirect: %v", err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("fetched %d bytes (%v), want the blob's %d", len(got), err, len(data))
			}
			rc, _, err = repo.FetchRange(ctx, desc, 100, 200)
			if err != nil {
				t.Fatalf("range through the redirect: %v", err)
			}
			got, err = io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data[100:300]) {
				t.Fatalf("range: %d bytes (%v)", len(got), err)
			}
			seen := tc.st.seen()
			if len(seen) < 2 {
				t.Fatalf("the storage saw %d requests, want the fetch and the range", len(seen))
			}
			for i, a := range seen {
				if tc.withAuth != (a != "") {
					t.Errorf("request %d to %s carried Authorization %q; want credentials: %v", i, tc.to, a, tc.withAuth)
				}
			}
		})
	}
}
