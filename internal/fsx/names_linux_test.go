package fsx

import (
	"os"
	"path/filepath"
	"testing"
)

// On the filesystem the tests run on (ext4 or tmpfs here, byte-for-byte
// names), the probe finds no folding and leaves nothing behind.
func TestNameFoldingByteForByte(t *testing.T) {
	dir := t.TempDir()
	foldsCase, foldsUnicode, err := NameFolding(dir)
	if err != nil {
		t.Fatal(err)
	}
	if foldsCase || foldsUnicode {
		t.Errorf("NameFolding(%s) = case %v, unicode %v; this test expects a Linux filesystem without casefold", dir, foldsCase, foldsUnicode)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the probe left %d entries in %s", len(entries), dir)
	}
	if _, _, err := NameFolding(filepath.Join(dir, "missing")); err == nil {
		t.Error("NameFolding of a missing directory: no error")
	}
}
