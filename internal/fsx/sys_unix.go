//go:build unix

package fsx

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// SyncDir fsyncs the directory p, so entries just made in it survive a
// crash.
func SyncDir(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func sameDevice(_ string, a fs.FileInfo, _ string, b fs.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Dev == sb.Dev
}

func linkCount(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}

// TryLock takes an exclusive lock on f without waiting (flock). ok is
// false when another process holds it.
func TryLock(f *os.File) (ok bool, err error) {
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// openNoFollow opens path without following a symbolic link there
// (ELOOP) and without blocking on a FIFO planted there (O_NONBLOCK, which
// a regular file ignores).
func openNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK, perm)
}

// Writable reports whether the caller may create entries in dir: not on
// a read-only filesystem (a container's root), and permitted.
func Writable(dir string) bool {
	return unix.Access(dir, unix.W_OK) == nil
}
