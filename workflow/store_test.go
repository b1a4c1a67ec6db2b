package workflow_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/store"
	"github.com/vessel-oci/vessel/workflow"
)

// A second model sharing files with one pulled before takes them from the
// shared store: not fetched again, hard-linked, and the pulled trees are
// right. Files with other permissions are copied, not linked.
func TestPullsShareTheStore(t *testing.T) {
	ctx := context.Background()
	host, gets := countingRegistry(t)
	base := map[string]string{
		"tokenizer.json": `{"vocab":{"a":1}}`,
		"weights.bin":    "base weights",
	}
	src1, src2 := t.TempDir(), t.TempDir()
	testutil.WriteTree(t, src1, base)
	testutil.WriteTree(t, src2, map[string]string{"tokenizer.json": base["tokenizer.json"], "adapter.bin": "adapter"})
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
	_, err = workflow.Pull(ctx, open(t, host+"/x/base:v1"), dest1, workflow.PullOptions{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, src1, dest1)
	gets.reset()
	res2, err := workflow.Pull(ctx, open(t, host+"/x/adapter:v1"), dest2, workflow.PullOptions{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, src2, dest2)
	for _, f := range res2.Files {
		want := 1
		if f.Path == "tokenizer.json" {
			want = 0
		}
		if got := gets.count(f.Digest); got != want {
			t.Errorf("%s fetched %d times, want %d", f.Path, got, want)
		}
	}
	inode := func(p string) uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	if inode(filepath.Join(dest1, "tokenizer.json")) != inode(filepath.Join(dest2, "tokenizer.json")) {
		t.Error("shared file not hard-linked from the store")
	}
	if fi, err := os.Stat(filepath.Join(dest2, "adapter.bin")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("adapter.bin lost its exec bit: %v %v", fi.Mode(), err)
	}
	// Prune keeps what pulled directories use (linked), and frees the
	// rest: here the adapter, which was copied.
	if freed, err := s.Prune(); err != nil || freed != int64(len("adapter")) {
		t.Fatalf("prune with both directories: freed %d, want %d (adapter.bin), %v", freed, len("adapter"), err)
	}
	if err := os.RemoveAll(dest1); err != nil {
		t.Fatal(err)
	}
	if freed, err := s.Prune(); err != nil || freed != int64(len(base["weights.bin"])) {
		t.Fatalf("prune after removing base: freed %d, want %d (weights.bin), %v", freed, len(base["weights.bin"]), err)
	}
}
