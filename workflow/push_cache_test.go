package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/internal/digestcache"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

// hashCounter counts the bytes Push reads to hash files.
type hashCounter struct{ bytes atomic.Int64 }

func (h *hashCounter) progress(e workflow.Event) {
	if e.Kind == workflow.EventBytes && e.Phase == workflow.PhaseHash {
		h.bytes.Add(e.Bytes)
	}
}

// agedModel writes the sample model and waits until its files are old
// enough for the digest cache to trust their timestamps.
func agedModel(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "model")
	testutil.WriteTree(t, dir, sampleModel)
	time.Sleep(digestcache.RacyWindow + 100*time.Millisecond)
	return dir
}

func TestRePushWithDigestCacheReadsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := agedModel(t)
	host := testutil.Registry(t, testutil.Olareg, nil)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	push := func(ref, cache string) (*workflow.PushResult, int64) {
		t.Helper()
		var h hashCounter
		res, err := workflow.Push(ctx, open(t, host+"/"+ref), src, workflow.PushOptions{DigestCache: cache, Progress: h.progress})
		if err != nil {
			t.Fatal(err)
		}
		return res, h.bytes.Load()
	}
	var total int64
	for _, c := range sampleModel {
		total += int64(len(c))
	}

	uncached, _ := push("team/plain:v1", "")
	cold, hashed := push("team/m:v1", cacheDir)
	if hashed != total || cold.Digest != uncached.Digest {
		t.Fatalf("cold push: hashed %d of %d bytes, digest %s, want %s", hashed, total, cold.Digest, uncached.Digest)
	}
	warm, hashed := push("team/m:v1", cacheDir)
	if hashed != 0 || warm.Digest != cold.Digest || warm.BytesSent != 0 {
		t.Fatalf("warm re-push: hashed %d bytes, sent %d, digest %s, want 0, 0, %s", hashed, warm.BytesSent, warm.Digest, cold.Digest)
	}

	// Same size, mtime put back: only ctime shows the change, and it must
	// be enough for a new digest.
	weights := filepath.Join(src, "model.safetensors")
	fi, err := os.Stat(weights)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Repeat("WEIGHTS!", 50000)
	if err := os.WriteFile(weights, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(weights, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	edited, hashed := push("team/m:v2", cacheDir)
	if hashed != int64(len(changed)) {
		t.Errorf("after editing one file: hashed %d bytes, want %d", hashed, len(changed))
	}
	for _, f := range edited.Files {
		if f.Path == "model.safetensors" && f.Digest != digest.FromString(changed) {
			t.Errorf("edited file pushed as %s, its bytes are %s", f.Digest, digest.FromString(changed))
		}
	}
	if reference, _ := push("team/plain:v2", ""); edited.Digest != reference.Digest {
		t.Errorf("cached push of the edited model: %s, uncached: %s", edited.Digest, reference.Digest)
	}
}

func TestBrokenDigestCacheDoesNotFailPush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := writeModel(t)
	host := testutil.Registry(t, testutil.Olareg, nil)
	corrupt := t.TempDir()
	if err := os.WriteFile(filepath.Join(corrupt, digestcache.FileName), []byte("\x00garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{
		"corrupt file":  corrupt,
		"unusable path": filepath.Join(blocker, "cache"), // under a regular file
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := workflow.Push(ctx, open(t, host+"/team/m:v1"), src, workflow.PushOptions{DigestCache: dir}); err != nil {
				t.Fatalf("push with a %s cache: %v", name, err)
			}
		})
	}
}

// openTB is open for benchmarks.
func openTB(tb testing.TB, ref string) *registry.Repository {
	tb.Helper()
	r, err := registry.ParseReference(ref)
	if err != nil {
		tb.Fatal(err)
	}
	repo, err := registry.Open(context.Background(), r, registry.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return repo
}

// BenchmarkRePush pushes an unchanged 64 MiB model again to a registry
// that has every blob, with and without a warm digest cache.
func BenchmarkRePush(b *testing.B) {
	ctx := context.Background()
	src := filepath.Join(b.TempDir(), "model")
	files := map[string]string{}
	for i := range 4 {
		files[fmt.Sprintf("model-%d.safetensors", i)] = strings.Repeat(fmt.Sprint(i), 16<<20)
	}
	testutil.WriteTree(b, src, files)
	time.Sleep(digestcache.RacyWindow + 100*time.Millisecond)
	host := testutil.Registry(b, testutil.Olareg, nil)
	for _, bc := range []struct{ name, cache string }{{"no-cache", ""}, {"warm-cache", b.TempDir()}} {
		b.Run(bc.name, func(b *testing.B) {
			repo := openTB(b, host+"/bench/m:v1")
			opts := workflow.PushOptions{DigestCache: bc.cache}
			if _, err := workflow.Push(ctx, repo, src, opts); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(64 << 20)
			for b.Loop() {
				if _, err := workflow.Push(ctx, repo, src, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A dataset of small files travels in tar groups; pushed again unchanged
// with the digest cache it reads no file, sends nothing and keeps its
// digest; with one file changed, only that file's group is read and sent.
func TestRePushOfGroupsReadsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "data")
	files := map[string]string{}
	for d := range 4 {
		for f := range 100 {
			files[fmt.Sprintf("train/c%d/%03d.txt", d, f)] = fmt.Sprintf("sample %d of class %d\n", f, d)
		}
	}
	testutil.WriteTree(t, src, files)
	time.Sleep(digestcache.RacyWindow + 100*time.Millisecond)
	host := testutil.Registry(t, testutil.Olareg, nil)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	push := func() (*workflow.PushResult, int64) {
		t.Helper()
		var h hashCounter
		res, err := workflow.Push(ctx, open(t, host+"/data/ds:v1"), src, workflow.PushOptions{DigestCache: cacheDir, Progress: h.progress, Scan: artifact.ScanOptions{Dataset: true}})
		if err != nil {
			t.Fatal(err)
		}
		return res, h.bytes.Load()
	}
	cold, hashed := push()
	layers := map[digest.Digest]bool{}
	for _, f := range cold.Files {
		layers[f.Layer] = true
	}
	if len(cold.Files) != len(files) || len(layers) != 4 || hashed == 0 {
		t.Fatalf("cold push: %d files in %d groups, %d bytes hashed", len(cold.Files), len(layers), hashed)
	}
	warm, hashed := push()
	if hashed != 0 || warm.BytesSent != 0 || warm.Digest != cold.Digest {
		t.Fatalf("warm re-push: hashed %d bytes, sent %d, digest %s, want 0, 0, %s", hashed, warm.BytesSent, warm.Digest, cold.Digest)
	}
	if err := os.WriteFile(filepath.Join(src, "train", "c2", "050.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(digestcache.RacyWindow + 100*time.Millisecond)
	edited, hashed := push()
	if edited.Digest == cold.Digest || hashed == 0 || hashed > cold.BytesSent/2 || edited.BytesSent == 0 || edited.BytesSent > cold.BytesSent/2 {
		t.Fatalf("one file changed: hashed %d and sent %d bytes of %d", hashed, edited.BytesSent, cold.BytesSent)
	}
}

// More layers than a pull accepts is refused before anything is read or
// sent, naming the limit and what raises it.
func TestPushRefusesTooManyLayers(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "data")
	files := map[string]string{}
	for i := range artifact.DefaultMaxLayers + 1 {
		files[fmt.Sprintf("d%02d/%05d", i%50, i)] = "x"
	}
	testutil.WriteTree(t, src, files)
	host := testutil.Registry(t, testutil.Olareg, nil)
	var h hashCounter
	_, err := workflow.Push(context.Background(), open(t, host+"/data/ds:v1"), src, workflow.PushOptions{Group: artifact.GroupOptions{MinFiles: -1}, Progress: h.progress})
	if !errors.Is(err, workflow.ErrTooLarge) || !strings.Contains(err.Error(), "--group-min-files") || h.bytes.Load() != 0 {
		t.Fatalf("Push = %v (%d bytes hashed)", err, h.bytes.Load())
	}
	// Grouped (the default), the same files are 50 layers.
	res, err := workflow.Push(context.Background(), open(t, host+"/data/ds:v1"), src, workflow.PushOptions{})
	if err != nil || len(res.Files) != len(files) {
		t.Fatalf("grouped: %v", err)
	}
}
