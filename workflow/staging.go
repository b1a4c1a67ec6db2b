package workflow

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vessel-oci/vessel/internal/fsx"
)

// stagingPrefix begins the names of the staging directories of pulls into
// dest. The destination's name is part of it, so a pull clears only what
// earlier pulls into the same destination left.
func stagingPrefix(dest string) string { return ".vessel-pull-" + filepath.Base(dest) + "-" }

// newStaging makes a pull's staging directory beside dest and locks it
// for as long as the pull runs (release unlocks). First it removes the
// staging directories of pulls into dest that were killed (SIGKILL, a
// lost machine): those nobody holds a lock on. Their hard links would
// otherwise pin content-store blobs forever. Where a directory cannot be
// locked (Windows), nothing is removed.
func newStaging(dest string) (dir string, release func(), err error) {
	parent, prefix := filepath.Dir(dest), stagingPrefix(dest)
	if entries, err := os.ReadDir(parent); err == nil {
		for _, e := range entries {
			if rest, ok := strings.CutPrefix(e.Name(), prefix); ok && e.IsDir() && isDigits(rest) {
				removeIfAbandoned(filepath.Join(parent, e.Name()))
			}
		}
	}
	// Between MkdirTemp and the lock, another pull's sweep above may take
	// the new directory for abandoned and remove it: then make another.
	for range 10 {
		if dir, err = os.MkdirTemp(parent, prefix+"*"); err != nil {
			return "", nil, err
		}
		f, err := os.Open(dir)
		if err != nil {
			continue // removed already
		}
		ok, lockErr := fsx.TryLock(f)
		if lockErr != nil {
			// No locks on this filesystem: nothing is swept either.
			f.Close()
			return dir, func() {}, nil
		}
		if ok && fsx.Names(dir, f) {
			return dir, func() { f.Close() }, nil
		}
		f.Close() // a sweep holds it, or it is gone
	}
	return "", nil, fmt.Errorf("make a staging directory in %s: taken by other pulls' sweeps ten times", parent)
}

// isDigits reports whether s is the random part os.MkdirTemp makes (a
// decimal number), so that "m-x"'s staging is not taken for "m"'s.
func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// removeIfAbandoned removes a staging directory whose pull is gone: one
// that is a directory (not a link to one) and whose lock can be taken.
func removeIfAbandoned(p string) {
	fi, err := os.Lstat(p)
	if err != nil || !fi.IsDir() {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		return
	}
	defer f.Close()
	if held, err := f.Stat(); err != nil || !os.SameFile(fi, held) {
		return // replaced since the Lstat
	}
	if ok, err := fsx.TryLock(f); ok && err == nil {
		os.RemoveAll(p)
	}
}
