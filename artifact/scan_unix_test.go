//go:build unix

package artifact

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

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

// Place links only the file that was checked: when the blob's name in
// the store is swapped after the check (for a symbolic link, which link(2)
// would link itself, or for another regular file), what lands in the
// destination is still the checked file's content, and not their file.
func TestPlaceLinksOnlyTheCheckedBlob(t *testing.T) {
	t.Parallel()
	ours := bytes.Repeat([]byte("w"), LinkMinSize)
	theirs := bytes.Repeat([]byte("x"), LinkMinSize)
	for _, swap := range []string{"symlink", "regular file"} {
		t.Run(swap, func(t *testing.T) {
			t.Parallel()
			p := mustPlan(t, Limits{}, rawLayer(t, "model.bin", ours))
			dir := t.TempDir()
			blob, other := filepath.Join(dir, "blob"), filepath.Join(dir, "theirs")
			for name, data := range map[string][]byte{blob: ours, other: theirs} {
				if err := os.WriteFile(name, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			checked, err := os.Open(blob)
			if err != nil {
				t.Fatal(err)
			}
			defer checked.Close()
			if swap == "symlink" {
				err = errors.Join(os.Remove(blob), os.Symlink(other, blob))
			} else {
				err = os.Rename(other, blob)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, staging := newStaging(t)
			if err := newUnpacker(t, staging, p).Place(p.Entries[0], checked); err != nil {
				t.Fatal(err)
			}
			placed := filepath.Join(staging, "model.bin")
			fi, err := os.Lstat(placed)
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("placed %v, %v: want a regular file", fi, err)
			}
			if got, _ := os.ReadFile(placed); !bytes.Equal(got, ours) {
				t.Errorf("placed their file's content (%q...)", got[:4])
			}
		})
	}
}
