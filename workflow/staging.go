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

// landsInside reports whether a pull into dest stages inside it: dest is
// a directory that cannot be replaced, because a volume is mounted there
// (a Kubernetes emptyDir an init container pulls into) or its parent is
// read-only (a container's root filesystem). Elsewhere the staging
// directory and the private store go beside dest and the staging
// directory is renamed into place in one step. Inside, they take hidden
// names of their own (ownEntry) and the files move in one by one at the
// end: nothing is there until every file verified, and an init
// container's exit status tells the pod whether to start.
func landsInside(dest string) bool {
	fi, err := os.Lstat(dest)
	if err != nil || !fi.IsDir() {
		return false
	}
	parent := filepath.Dir(dest)
	return !fsx.SameFilesystem(dest, parent) || !fsx.Writable(parent)
}

// insideStore is the private store's name inside a destination.
const insideStore = ".vessel-partial"

// ownEntry reports whether name, inside dest, is a pull's own: its
// staging directory or private store.
func ownEntry(dest, name string) bool {
	return name == insideStore || strings.HasPrefix(name, stagingPrefix(dest))
}

// privateStore is where a pull into dest without a shared store keeps
// its blobs: beside dest, hidden and named after it so a rerun finds it,
// or inside it.
func privateStore(dest string, inside bool) string {
	if inside {
		return filepath.Join(dest, insideStore)
	}
	return filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".vessel-partial")
}

// newStaging makes a pull's staging directory in parent (beside dest, or
// inside it) and locks it for as long as the pull runs (release unlocks).
// First it removes the staging directories of pulls into dest that were
// killed (SIGKILL, a lost machine): those nobody holds a lock on. Their
// hard links would otherwise pin content-store blobs forever. Where a
// directory cannot be locked (Windows), nothing is removed.
func newStaging(parent, dest string) (dir string, release func(), err error) {
	prefix := stagingPrefix(dest)
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
