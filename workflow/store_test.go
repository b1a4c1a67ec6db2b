package workflow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/store"
	"github.com/vessel-oci/vessel/workflow"
)

// A second model sharing files with one pulled before takes them from the
// shared store, not from the registry. Large files are hard-linked (one
// inode for both pulls), small ones and files with other permissions are
// copied; prune frees what no pulled directory links to.
func TestPullsShareTheStore(t *testing.T) {
	ctx := context.Background()
	host, gets := countingRegistry(t)
	weights := strings.Repeat("w", artifact.LinkMinSize+1)
	tokenizer := `{"vocab":{"a":1}}`
	src1, src2 := t.TempDir(), t.TempDir()
	testutil.WriteTree(t, src1, map[string]string{"tokenizer.json": tokenizer, "base.safetensors": weights})
	testutil.WriteTree(t, src2, map[string]string{"tokenizer.json": tokenizer, "base.safetensors": weights, "adapter.bin": "adapter"})
	if err := os.Chmod(filepath.Join(src2, "adapter.bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Push(ctx, open(t, host+"/x/base:v1"), src1, workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Push(ctx, open(t, host+"/x/adapter:v1"), src2, workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dest1, dest2 := filepath.Join(t.TempDir(), "base"), filepath.Join(t.TempDir(), "adapter")
	if _, err := workflow.Pull(ctx, open(t, host+"/x/base:v1"), dest1, workflow.PullOptions{InsecureSkipVerify: true, Store: s}); err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, src1, dest1)
	gets.reset()
	res2, err := workflow.Pull(ctx, open(t, host+"/x/adapter:v1"), dest2, workflow.PullOptions{InsecureSkipVerify: true, Store: s})
	if err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, src2, dest2)
	for _, f := range res2.Files {
		want := 0
		if f.Path == "adapter.bin" {
			want = 1
		}
		if got := gets.count(f.Digest); got != want {
			t.Errorf("%s fetched %d times, want %d", f.Path, got, want)
		}
	}
	linked := func(name string) bool {
		a, err := os.Stat(filepath.Join(dest1, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.Stat(filepath.Join(dest2, name))
		if err != nil {
			t.Fatal(err)
		}
		return os.SameFile(a, b)
	}
	if !linked("base.safetensors") {
		t.Error("large shared file not hard-linked from the store")
	}
	if linked("tokenizer.json") {
		t.Error("small shared file hard-linked: an edit in place would change both pulls")
	}
	if fi, err := os.Stat(filepath.Join(dest2, "adapter.bin")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("adapter.bin lost its exec bit: %v %v", fi.Mode(), err)
	}
	// Prune keeps what pulled directories link to, and frees the copies.
	copied := int64(len(tokenizer) + len("adapter"))
	if freed, err := s.Prune(); err != nil || freed != copied {
		t.Fatalf("prune with both directories: freed %d, want %d (the copied files' blobs), %v", freed, copied, err)
	}
	for _, d := range []string{dest1, dest2} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	if freed, err := s.Prune(); err != nil || freed != int64(len(weights)) {
		t.Fatalf("prune after removing both: freed %d, want %d (the weights), %v", freed, len(weights), err)
	}
}

// A pull's private store is a directory vessel makes beside the
// destination; a symbolic link planted at its name (by whoever can write
// the destination's parent) is refused, and nothing is written where it
// points.
func TestPullRefusesAPlantedPrivateStore(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t, testutil.Backends[0], nil)
	if _, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	theirs := t.TempDir()
	dest := filepath.Join(t.TempDir(), "model")
	if err := os.Symlink(theirs, workflow.PrivateStore(dest)); err != nil {
		t.Fatal(err)
	}
	_, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true})
	if !errors.Is(err, errdef.ErrUnsafePath) || !strings.Contains(err.Error(), workflow.PrivateStore(dest)) {
		t.Fatalf("pull through a planted private store: %v, want ErrUnsafePath naming it", err)
	}
	if entries, _ := os.ReadDir(theirs); len(entries) != 0 {
		t.Errorf("pull wrote through the planted link: %v", entries)
	}
	if _, err := os.Lstat(dest); !os.IsNotExist(err) {
		t.Errorf("destination exists after a refused pull: %v", err)
	}
}
