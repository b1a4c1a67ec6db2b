package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/workflow"
)

// Not parallel: see the note in app_test.go.

func TestPullInclude(t *testing.T) {
	host := testutil.Registry(t, testutil.Olareg, nil)
	src := model(t)
	ref := host + "/team/m:v1"
	if _, stderr, code := run(t, "push", src, ref, "-q"); code != 0 {
		t.Fatalf("push: exit %d: %s", code, stderr)
	}
	dest := filepath.Join(t.TempDir(), "out")
	out, stderr, code := run(t, "pull", ref, dest, "--include", "*.json", "--include", "sub/*", "-o", "json", "--insecure-skip-verify")
	if code != 0 {
		t.Fatalf("pull --include: exit %d: %s", code, stderr)
	}
	var res workflow.PullResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("pull JSON %q: %v", out, err)
	}
	var listed []string
	for _, f := range res.Files {
		listed = append(listed, f.Path)
	}
	slices.Sort(listed)
	want := []string{"config.json", "sub/notes.md"}
	if !slices.Equal(listed, want) {
		t.Errorf("result lists %q, want %q", listed, want)
	}
	got := testutil.HashTree(t, dest)
	if len(got) != 3 || got["sub"] != "dir" { // the two files and sub/
		t.Fatalf("wrote %v", got)
	}
	srcTree := testutil.HashTree(t, src)
	for _, f := range want {
		if got[f] != srcTree[f] {
			t.Errorf("%s differs from the pushed file", f)
		}
	}

	// Nothing matches: an error, nothing written.
	none := filepath.Join(t.TempDir(), "none")
	_, stderr, code = run(t, "pull", ref, none, "--include", "*.bin", "-q", "--insecure-skip-verify")
	if code != exitError || !strings.Contains(stderr, "--include matched no file of "+ref) {
		t.Fatalf("no match: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Fatal("destination written")
	}
}

func TestPullIncludeUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		// A whole-model signature does not verify a partial directory.
		{"pull", "r.example/m:v1", "d", "--include", "*.json", "--signature", "d/model.sig", "--key", "k.pub"},
		{"pull", "r.example/m:v1", "d", "--include", "[unclosed", "--insecure-skip-verify"},
		{"pull", "r.example/m:v1", "d", "--include", "", "--insecure-skip-verify"},
	} {
		_, stderr, code := run(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
		if args[5] == "--signature" && !strings.Contains(stderr, "--signature cannot be combined with --include") {
			t.Errorf("conflict not explained: %q", stderr)
		}
	}
}
