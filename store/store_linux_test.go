package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vessel-oci/vessel/store"
)

// Preallocation is Linux-only (fsx.Preallocate): elsewhere a full disk is
// found by the write that fails.

// A blob larger than the free space fails before a byte is asked for,
// and leaves nothing behind.
func TestBlobLargerThanTheDiskFailsFirst(t *testing.T) {
	repo, desc, _ := setup(t, &faults{}, 1<<10)
	s := openStore(t)
	var fs unix.Statfs_t
	if err := unix.Statfs(s.Dir(), &fs); err != nil {
		t.Fatal(err)
	}
	desc.Size = int64(fs.Bavail)*fs.Bsize + 1<<30
	src := &asking{Source: repo}
	_, err := fetchPath(s, context.Background(), desc, src, store.FetchOptions{})
	if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("a %d-byte blob on a disk with less free: %v, want ENOSPC saying so", desc.Size, err)
	}
	if n := src.whole.Load() + src.ranges.Load(); n != 0 {
		t.Errorf("asked the registry %d times before finding the disk too small", n)
	}
	if left := partials(t, s); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}
