package attest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vessel-oci/vessel/internal/testutil/sigstoretest"
)

// tufRepo is a TUF repository serving a trusted_root.json, as Sigstore's
// is, signed with go-tuf: every role one ed25519 key, no consistent
// snapshots; the timestamp expires at timestampExpires.
func tufRepo(t *testing.T, trustedRoot []byte, timestampExpires time.Time) (files map[string][]byte, rootJSON []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signature.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(24 * time.Hour)
	rootMD := metadata.Root(expires)
	rootMD.Signed.ConsistentSnapshot = false
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if err := rootMD.Signed.AddKey(key, role); err != nil {
			t.Fatal(err)
		}
	}
	targets := metadata.Targets(expires)
	tf, err := metadata.TargetFile().FromBytes("trusted_root.json", trustedRoot, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	targets.Signed.Targets["trusted_root.json"] = tf
	snapshot := metadata.Snapshot(expires)
	snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(1)
	timestamp := metadata.Timestamp(timestampExpires)
	timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(1)
	files = map[string][]byte{"targets/trusted_root.json": trustedRoot}
	sign := func(name string, md interface {
		Sign(signature.Signer) (*metadata.Signature, error)
		ToBytes(bool) ([]byte, error)
	}) {
		if _, err := md.Sign(signer); err != nil {
			t.Fatal(err)
		}
		b, err := md.ToBytes(true)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	sign("1.root.json", rootMD)
	sign("targets.json", targets)
	sign("snapshot.json", snapshot)
	sign("timestamp.json", timestamp)
	return files, files["1.root.json"]
}

// serveFiles serves files on 127.0.0.1, 404 for anything else.
func serveFiles(files map[string][]byte) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
}

func tufOptions(t *testing.T, rootJSON []byte, url string) *tuf.Options {
	opts := tuf.DefaultOptions()
	opts.Root, opts.RepositoryBaseURL, opts.CachePath, opts.DisableConsistentSnapshot = rootJSON, url, t.TempDir(), true
	return opts
}

// The public root comes through TUF when online and from the cache
// offline, while the cached metadata is unexpired; never otherwise.
func TestPublicRootOfflineFromCache(t *testing.T) {
	ss := sigstoretest.New(t)
	want := ss.TrustedRootJSON(t, false)
	files, rootJSON := tufRepo(t, want, time.Now().Add(24*time.Hour))
	srv := serveFiles(files)
	opts := tufOptions(t, rootJSON, srv.URL)
	online, err := publicRoot(opts)
	if err != nil {
		t.Fatalf("online: %v", err)
	}
	if len(online.FulcioCertificateAuthorities()) != 1 || len(online.TimestampingAuthorities()) != 1 {
		t.Fatalf("online: not the served trusted root: %d CAs, %d TSAs", len(online.FulcioCertificateAuthorities()), len(online.TimestampingAuthorities()))
	}
	srv.Close()
	offline, err := publicRoot(opts)
	if err != nil {
		t.Fatalf("offline, with a cached copy: %v", err)
	}
	if !offline.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority).Root.Equal(online.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority).Root) {
		t.Fatal("offline: the cached root is not the one fetched")
	}
	// Offline without a cache: an error that says so.
	if _, err := publicRoot(tufOptions(t, rootJSON, srv.URL)); err == nil || !strings.Contains(err.Error(), "no unexpired copy cached") {
		t.Fatalf("offline without a cache: %v", err)
	}
	// A cached copy whose timestamp has expired is not used offline.
	files, rootJSON = tufRepo(t, want, time.Now().Add(1500*time.Millisecond))
	srv = serveFiles(files)
	opts = tufOptions(t, rootJSON, srv.URL)
	if _, err := publicRoot(opts); err != nil {
		t.Fatalf("online, short-lived timestamp: %v", err)
	}
	srv.Close()
	time.Sleep(2 * time.Second)
	if _, err := publicRoot(opts); err == nil || !strings.Contains(err.Error(), "no unexpired copy cached") {
		t.Fatalf("offline with an expired cached copy: %v", err)
	}
}
