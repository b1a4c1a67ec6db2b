//go:build unix

package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/store"
)

// Anyone who can write the store (a shared --cache-dir, a restored CI
// cache) can plant symbolic links in it. The store never follows them:
// not to read a blob, not to write a partial one or its lock.
func TestStoreFollowsNoPlantedLinks(t *testing.T) {
	ctx := context.Background()
	repo, desc, content := setup(t, &faults{}, 3<<20)
	hex := desc.Digest.Encoded()

	t.Run("a blob", func(t *testing.T) {
		s := openStore(t)
		// A file the attacker controls, with the right bytes for now.
		outside := filepath.Join(t.TempDir(), "theirs")
		if err := os.WriteFile(outside, content, 0o644); err != nil {
			t.Fatal(err)
		}
		planted := filepath.Join(s.Dir(), "blobs", "sha256", hex)
		if err := os.MkdirAll(filepath.Dir(planted), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, planted); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.Get(ctx, desc); ok || err != nil {
			t.Fatalf("Get through a planted link: %v %v, want missing", ok, err)
		}
		p, err := fetchPath(s, ctx, desc, repo, store.FetchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("stored blob after a planted link: %v %v, want a regular file", fi.Mode(), err)
		}
	})

	t.Run("a FIFO for a blob", func(t *testing.T) {
		s := openStore(t)
		planted := filepath.Join(s.Dir(), "blobs", "sha256", hex)
		if err := os.MkdirAll(filepath.Dir(planted), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(planted, 0o644); err != nil {
			t.Fatal(err)
		}
		// Opening it for reading would wait for a writer forever.
		if _, ok, err := s.Get(ctx, desc); ok || err != nil {
			t.Fatalf("Get of a planted FIFO: %v %v, want missing", ok, err)
		}
		if _, err := os.Lstat(planted); !os.IsNotExist(err) {
			t.Errorf("the planted FIFO is still there: %v", err)
		}
	})

	t.Run("a partial blob and its lock", func(t *testing.T) {
		s := openStore(t)
		dir := t.TempDir()
		victim, lockTarget := filepath.Join(dir, "victim"), filepath.Join(dir, "lock-target")
		if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
		partial := filepath.Join(s.Dir(), "partial", "sha256-"+hex)
		for link, target := range map[string]string{partial: victim, partial + ".lock": lockTarget} {
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
		}
		p, err := fetchPath(s, ctx, desc, repo, store.FetchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, content) {
			t.Fatal("fetched blob is wrong")
		}
		if got, _ := os.ReadFile(victim); string(got) != "keep me" {
			t.Errorf("written through a planted partial link: %q", got)
		}
		if _, err := os.Lstat(lockTarget); !os.IsNotExist(err) {
			t.Errorf("lock created through a planted link: %v", err)
		}
	})

	t.Run("the store itself", func(t *testing.T) {
		real := t.TempDir()
		// The store's own directory may be a link (the user's choice).
		link := filepath.Join(t.TempDir(), "store")
		if err := os.Symlink(openStore(t).Dir(), link); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Open(link); err != nil {
			t.Fatalf("a store reached through a link: %v", err)
		}
		if err := os.Mkdir(filepath.Join(real, "blobs"), 0o755); err != nil {
			t.Fatal(err)
		}
		elsewhere := t.TempDir()
		if err := os.Symlink(elsewhere, filepath.Join(real, "partial")); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Open(real); !errors.Is(err, errdef.ErrUnsafePath) {
			t.Fatalf("a store whose partial/ is a link: %v, want ErrUnsafePath", err)
		}
	})
}
