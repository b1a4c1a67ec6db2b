package fsx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// NameFolding reports how the filesystem holding dir compares names: does
// it take "A" for "a" (macOS and Windows by default, casefolded ext4), and
// "é" as one code point for "e" plus a combining accent (APFS, HFS+)? It
// asks the filesystem itself: it creates a file in dir (O_EXCL, a random
// name) and looks for it under the other spellings. A setting per
// directory (ext4's +F) is why dir, not a mount point, is asked.
func NameFolding(dir string) (foldsCase, foldsUnicode bool, err error) {
	f, err := os.CreateTemp(dir, ".vessel-names-*-a\u00e9")
	if err != nil {
		return false, false, fmt.Errorf("probe how %s compares names: %w", dir, err)
	}
	name := f.Name()
	defer os.Remove(name)
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return false, false, fmt.Errorf("probe how %s compares names: %w", dir, err)
	}
	same := func(alt string) bool {
		ai, err := os.Lstat(filepath.Join(dir, alt))
		return err == nil && os.SameFile(fi, ai)
	}
	base := filepath.Base(name)
	foldsCase = same(strings.ToUpper(base))
	foldsUnicode = same(strings.Replace(base, "\u00e9", "e\u0301", 1))
	return foldsCase, foldsUnicode, nil
}
