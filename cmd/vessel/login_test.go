package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vessel-oci/vessel/internal/testutil"
)

// TestLoginPushLogout runs against a registry behind basic auth, with a
// private Docker config (so the user's is never touched). Not parallel: it
// sets DOCKER_CONFIG for the process.
func TestLoginPushLogout(t *testing.T) {
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	ref := host + "/team/m:v1"
	if _, _, code := run(t, "push", model(t), ref, "-q"); code == 0 {
		t.Fatal("push without credentials succeeded")
	}
	if _, _, code := run(t, "login", host, "-u", "alice", "-p", "wrong"); code == 0 {
		t.Fatal("login with a wrong password succeeded")
	}
	var out, errb strings.Builder
	code := Run(t.Context(), []string{"vessel", "login", host, "-u", "alice", "--password-stdin"}, strings.NewReader("s3cret\n"), &out, &errb)
	if code != 0 {
		t.Fatalf("login: %s", errb.String())
	}
	cfg, err := os.ReadFile(filepath.Join(cfgDir, "config.json"))
	if err != nil || !strings.Contains(string(cfg), host) {
		t.Fatalf("docker config after login: %s, %v", cfg, err)
	}
	if _, stderr, code := run(t, "push", model(t), ref, "-q"); code != 0 {
		t.Fatalf("push after login: %s", stderr)
	}
	if _, stderr, code := run(t, "logout", host); code != 0 {
		t.Fatalf("logout: %s", stderr)
	}
	if _, _, code := run(t, "push", model(t), ref, "-q"); code == 0 {
		t.Fatal("push after logout succeeded")
	}
}
