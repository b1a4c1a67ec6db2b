//go:build unix

package artifact

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
)

func TestScanRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	t.Run("fifo", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		testutil.WriteTree(t, root, map[string]string{"model.bin": "w"})
		if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		if _, err := Scan(root, ScanOptions{}); !errors.Is(err, ErrUnsupportedFile) {
			t.Errorf("Scan with a fifo = %v, want ErrUnsupportedFile", err)
		}
		// AllowSymlinks is about links only.
		if _, err := Scan(root, ScanOptions{AllowSymlinks: true}); !errors.Is(err, ErrUnsupportedFile) {
			t.Errorf("Scan with a fifo, AllowSymlinks = %v, want ErrUnsupportedFile", err)
		}
	})
	t.Run("symlink to fifo", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		if err := os.Symlink("pipe", filepath.Join(root, "link")); err != nil {
			t.Fatal(err)
		}
		// The fifo itself is excluded; the link to it is still refused.
		if _, err := Scan(root, ScanOptions{AllowSymlinks: true, Exclude: []string{"pipe"}}); !errors.Is(err, ErrUnsupportedFile) {
			t.Errorf("Scan with a link to a fifo = %v, want ErrUnsupportedFile", err)
		}
	})
}

// Place never links a symbolic link into the destination: a link planted
// at a stored blob's name (after the store checked it) is refused, not
// linked (link(2) would link the symlink itself).
func TestPlaceRefusesALinkedBlob(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("w"), LinkMinSize)
	p := mustPlan(t, Limits{}, rawLayer(t, "model.bin", content))
	dir := t.TempDir()
	theirs := filepath.Join(dir, "theirs")
	if err := os.WriteFile(theirs, content, 0o644); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(dir, "blob")
	if err := os.Symlink(theirs, blob); err != nil {
		t.Fatal(err)
	}
	_, staging := newStaging(t)
	if err := newUnpacker(t, staging, p).Place(p.Entries[0], blob); !errors.Is(err, errdef.ErrUnsafePath) {
		t.Fatalf("Place from a symbolic link: %v, want ErrUnsafePath", err)
	}
	if _, err := os.Lstat(filepath.Join(staging, "model.bin")); !os.IsNotExist(err) {
		t.Errorf("something was placed: %v", err)
	}
}
