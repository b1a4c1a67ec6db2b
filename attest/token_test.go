package attest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/vessel-oci/vessel/attest"
)

// The CI job's token: $SIGSTORE_ID_TOKEN first, else GitHub Actions'
// token service, asked for audience sigstore with its bearer token.
func TestAmbientToken(t *testing.T) {
	ctx := context.Background()
	t.Setenv("SIGSTORE_ID_TOKEN", "")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
	if _, err := attest.AmbientToken(ctx); !errors.Is(err, attest.ErrIdentityToken) {
		t.Fatalf("no token anywhere: %v", err)
	}
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer runner-secret" || r.URL.Query().Get("audience") != "sigstore" || r.URL.Query().Get("api-version") != "2.0" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Write([]byte(`{"count":1,"value":"gh.jwt.token"}`))
	}))
	defer gh.Close()
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", gh.URL+"/token?api-version=2.0")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-secret")
	if tok, err := attest.AmbientToken(ctx); err != nil || tok != "gh.jwt.token" {
		t.Fatalf("GitHub Actions: %q, %v", tok, err)
	}
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong")
	if _, err := attest.AmbientToken(ctx); !errors.Is(err, attest.ErrIdentityToken) {
		t.Fatalf("refused by the token service: %v", err)
	}
	t.Setenv("SIGSTORE_ID_TOKEN", " gitlab.jwt.token\n")
	if tok, err := attest.AmbientToken(ctx); err != nil || tok != "gitlab.jwt.token" {
		t.Fatalf("SIGSTORE_ID_TOKEN: %q, %v", tok, err)
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "token")
	read := attest.TokenFile(p)
	if _, err := read(context.Background()); !errors.Is(err, attest.ErrIdentityToken) {
		t.Fatalf("missing file: %v", err)
	}
	for content, want := range map[string]string{"a.b.c\n": "a.b.c", "  \n": ""} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		tok, err := read(context.Background())
		if want == "" {
			if !errors.Is(err, attest.ErrIdentityToken) {
				t.Errorf("%q: %v, want ErrIdentityToken", content, err)
			}
			continue
		}
		if err != nil || tok != want {
			t.Errorf("%q: %q, %v", content, tok, err)
		}
	}
	if err := os.WriteFile(p, make([]byte, 70<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := read(context.Background()); !errors.Is(err, attest.ErrIdentityToken) {
		t.Errorf("oversized token file: %v", err)
	}
}
