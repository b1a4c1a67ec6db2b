package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A layout or archive reference with no tag uses the layout's only tag,
// and says so; with several it lists them.
func TestUntaggedLayoutReference(t *testing.T) {
	t.Setenv("VESSEL_PASSWORD", "pw")
	keys := t.TempDir()
	if _, stderr, code := run(t, "keygen", "--output-key-prefix", filepath.Join(keys, "release")); code != 0 {
		t.Fatal(stderr)
	}
	key, pub := filepath.Join(keys, "release.key"), filepath.Join(keys, "release.pub")
	store := filepath.Join(t.TempDir(), "store")
	if _, stderr, code := run(t, "push", model(t), "oci:"+store+":v1", "--key", key, "-q"); code != 0 {
		t.Fatal(stderr)
	}
	archive := filepath.Join(t.TempDir(), "m.tar")
	if _, stderr, code := run(t, "export", "oci:"+store+":v1", archive, "--key", pub, "-q"); code != 0 {
		t.Fatal(stderr)
	}
	for _, ref := range []string{"oci-archive:" + archive, "oci:" + store} {
		stdout, stderr, code := run(t, "verify", ref, "--key", pub)
		if code != 0 || !strings.Contains(stderr, "using its only one, v1") || !strings.Contains(stdout, "verified") {
			t.Fatalf("verify %s: exit %d\n%s%s", ref, code, stdout, stderr)
		}
	}
	if _, stderr, code := run(t, "push", model(t), "oci:"+store+":v2", "-q"); code != 0 {
		t.Fatal(stderr)
	}
	_, stderr, code := run(t, "verify", "oci:"+store, "--key", pub)
	if code != exitUsage || !strings.Contains(stderr, "name one of its 2 tags: v1, v2") {
		t.Fatalf("verify of a layout with two tags: exit %d: %s", code, stderr)
	}
}
