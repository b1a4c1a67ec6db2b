// Package testutil holds helpers shared by vessel's tests: in-process
// registries (real ones, served over httptest on loopback) and file trees.
package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/vessel-oci/vessel/server"
)

// Backend is a kind of registry the same tests run against.
type Backend string

const (
	// Olareg is vessel's embedded registry: OCI 1.1 with the referrers API.
	Olareg Backend = "olareg"
	// NoReferrersAPI is go-containerregistry's registry without referrers
	// support, so clients must fall back to the referrers tag schema.
	NoReferrersAPI Backend = "ggcr-no-referrers"
)

// Backends lists the remote backends.
var Backends = []Backend{Olareg, NoReferrersAPI}

// Registry starts an in-process registry of kind b and returns its
// "127.0.0.1:port". wrap, if not nil, sits in front of it (to count or
// tamper with requests).
func Registry(t testing.TB, b Backend, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler
	switch b {
	case Olareg:
		var closeStore func() error
		h, closeStore = server.Handler(server.Options{})
		t.Cleanup(func() { _ = closeStore() })
	case NoReferrersAPI:
		h = ggcrregistry.New(ggcrregistry.WithReferrersSupport(false), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	default:
		t.Fatalf("unknown backend %q", b)
	}
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// WriteTree creates files (slash paths relative to dir) with the given contents.
func WriteTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// HashTree maps every regular file under dir (slash path) to its sha256,
// and every directory to "dir", so two trees compare with one ==.
func HashTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = hex.EncodeToString(sum[:])
		default:
			out[rel] = "special:" + d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Entries lists the names in dir, for "nothing new appeared here" checks.
func Entries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// Testdata returns the path of elem under the repository's testdata/
// directory (found from the test's working directory up to go.mod), and
// fails the test when it is missing.
func Testdata(t testing.TB, elem ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testdata: no go.mod above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "testdata"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testdata: %v", err)
	}
	return p
}
