package registry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/registry"
)

// FuzzReferrers: whatever a registry answers to the referrers API (an
// index that is not JSON, not an index, huge, full of bad descriptors)
// never panics the listing, and what it returns is bounded by
// MaxReferrers. (Each referrer is then fetched by its digest, capped and
// checked: a bad descriptor fails there, as one refused referrer.)
func FuzzReferrers(f *testing.F) {
	subject := digest.FromString("the model manifest")
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/m/referrers/"+subject.String() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		w.Write(body.Load().([]byte))
	}))
	f.Cleanup(srv.Close)
	ref, err := registry.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/m:v1")
	if err != nil {
		f.Fatal(err)
	}
	repo, err := registry.Open(context.Background(), ref, registry.Options{})
	if err != nil {
		f.Fatal(err)
	}
	sig := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromString("sig").String() + `","size":10,"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + sig + `]}`))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + sig + `,` + sig + `]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:zz","size":-1}]}`))
	f.Add([]byte(`{"manifests":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		body.Store(data)
		got, err := repo.Referrers(context.Background(), ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: subject, Size: 100}, "")
		if err != nil {
			return
		}
		if len(got) > registry.MaxReferrers {
			t.Fatalf("%d referrers returned, over the cap %d", len(got), registry.MaxReferrers)
		}
	})
}
