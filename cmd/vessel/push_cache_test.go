package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vessel-oci/vessel/internal/digestcache"
	"github.com/vessel-oci/vessel/internal/testutil"
)

func TestPushDigestCacheFlag(t *testing.T) {
	cacheHome := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	cacheFile := filepath.Join(cacheHome, "vessel", digestcache.FileName)
	host := testutil.Registry(t, testutil.Olareg, nil)
	src := model(t)
	time.Sleep(digestcache.RacyWindow + 100*time.Millisecond) // files old enough to cache

	if _, stderr, code := run(t, "push", src, host+"/team/m:v1", "--quiet", "--no-digest-cache"); code != 0 {
		t.Fatalf("push --no-digest-cache: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(cacheFile); !os.IsNotExist(err) {
		t.Fatalf("--no-digest-cache wrote %s (%v)", cacheFile, err)
	}

	out, stderr, code := run(t, "push", src, host+"/team/m:v1", "--quiet")
	if code != 0 {
		t.Fatalf("push: exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(cacheFile)
	if err != nil {
		t.Fatalf("push kept no digest cache: %v", err)
	}
	if !strings.Contains(string(data), "model.safetensors") {
		t.Fatalf("cache lacks the model's files:\n%s", data)
	}
	again, stderr, code := run(t, "push", src, host+"/team/m:v1", "--quiet")
	if code != 0 || again != out {
		t.Fatalf("re-push with the cache: exit %d, %q, want %q: %s", code, again, out, stderr)
	}
}
