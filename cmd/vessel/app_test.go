package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/workflow"
)

// The tests here do not run in parallel: urfave/cli v2 keeps its help flag
// in a package variable that every app run writes to, so two apps running
// at once in one process race (the vessel binary only ever runs one).

// run builds a fresh app and runs one command line.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), append([]string{"vessel"}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func model(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "m")
	testutil.WriteTree(t, dir, map[string]string{
		"model.safetensors": strings.Repeat("w", 4096),
		"config.json":       `{"model_type":"gpt2"}`,
		"sub/notes.md":      "notes",
	})
	return dir
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"push"},
		{"push", "onlyone"},
		{"pull", "r.example/m:v1"},
		{"inspect", "r.example/m:v1", "-o", "yaml"},
		{"push", ".", "not a reference"},
		{"push", ".", "r.example/m:v1", "--annotation", "novalue"},
		{"push", ".", "r.example/m:v1", "--media-type", "*.bin=nonsense"},
		{"pull", "--no-such-flag", "r.example/m:v1", "d"},
	} {
		if _, stderr, code := run(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
	}
}

func TestPushInspectPullJSON(t *testing.T) {
	host := testutil.Registry(t, testutil.Olareg, nil)
	src := model(t)
	ref := host + "/team/m:v1"
	// Flags after positional arguments work, as users type them.
	out, stderr, code := run(t, "push", src, ref, "--name", "m", "--version", "1.0", "-a", "org.example.k=v", "--quiet")
	if code != 0 {
		t.Fatalf("push: exit %d: %s", code, stderr)
	}
	digest := strings.TrimSpace(out)
	if !strings.HasPrefix(digest, "sha256:") || stderr != "" {
		t.Fatalf("push printed %q, stderr %q", out, stderr)
	}
	out, stderr, code = run(t, "inspect", ref, "-o", "json")
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	var in workflow.Inspection
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("inspect JSON: %v\n%s", err, out)
	}
	if in.Digest.String() != digest || len(in.Files) != 3 || in.Config.Descriptor.Name != "m" || in.Annotations["org.example.k"] != "v" {
		t.Fatalf("inspection = %+v", in)
	}
	dest := filepath.Join(t.TempDir(), "out")
	out, stderr, code = run(t, "pull", ref, dest, "-o", "json", "--insecure-skip-verify")
	if code != 0 {
		t.Fatalf("pull: exit %d: %s", code, stderr)
	}
	var res workflow.PullResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Digest.String() != digest || res.Destination != dest {
		t.Fatalf("pull JSON %q: %+v, %v", out, res, err)
	}
	if a, b := testutil.HashTree(t, src), testutil.HashTree(t, dest); len(a) != len(b) || a["sub/notes.md"] != b["sub/notes.md"] {
		t.Fatalf("trees differ: %v vs %v", a, b)
	}
	// Text output of inspect names every file.
	out, _, _ = run(t, "inspect", ref)
	for _, f := range []string{"model.safetensors", "config.json", "sub/notes.md", "Referrers: 0"} {
		if !strings.Contains(out, f) {
			t.Errorf("inspect text lacks %q:\n%s", f, out)
		}
	}
}

func TestTamperedPullExit3(t *testing.T) {
	layout := filepath.Join(t.TempDir(), "store")
	src := model(t)
	if _, stderr, code := run(t, "push", src, "oci:"+layout+":v1", "-q"); code != 0 {
		t.Fatalf("push: %s", stderr)
	}
	blobs, _ := filepath.Glob(filepath.Join(layout, "blobs", "sha256", "*"))
	for _, b := range blobs {
		if fi, _ := os.Stat(b); fi.Size() == 4096 { // model.safetensors
			if err := os.WriteFile(b, bytes.Repeat([]byte("x"), 4096), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dest := filepath.Join(t.TempDir(), "out")
	// A fresh store: the shared one may hold the good blob from another test.
	_, stderr, code := run(t, "pull", "oci:"+layout+":v1", dest, "-q", "--insecure-skip-verify", "--cache-dir", t.TempDir())
	if code != exitVerification {
		t.Fatalf("exit %d, want %d: %s", code, exitVerification, stderr)
	}
	if !strings.Contains(stderr, "model.safetensors") || !strings.Contains(stderr, "digest mismatch") {
		t.Errorf("stderr does not say what failed: %s", stderr)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatal("destination written")
	}
}

func TestPlainProgressLines(t *testing.T) {
	layout := filepath.Join(t.TempDir(), "store")
	_, stderr, code := run(t, "push", model(t), "oci:"+layout+":v1")
	if code != 0 {
		t.Fatal(stderr)
	}
	if n := strings.Count(stderr, "pushed "); n != 3 {
		t.Fatalf("want one line per file, got:\n%s", stderr)
	}
}

func TestInterspersed(t *testing.T) {
	app := NewApp(nil, io.Discard, io.Discard)
	got := interspersed(app, []string{"vessel", "pull", "REF", "DIR", "--concurrency", "2", "--force", "--", "-odd"})
	want := []string{"vessel", "pull", "--concurrency", "2", "--force", "REF", "DIR", "--", "-odd"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", got, want)
	}
}
