package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/windows"
)

// SyncDir does nothing on Windows: NTFS makes a rename durable with its
// journal, and a directory handle cannot be flushed.
func SyncDir(string) error { return nil }

func sameDevice(a string, _ fs.FileInfo, b string, _ fs.FileInfo) bool {
	a, _ = filepath.Abs(a)
	b, _ = filepath.Abs(b)
	return strings.EqualFold(filepath.VolumeName(a), filepath.VolumeName(b))
}

// linkCount is unknown from a FileInfo on Windows.
func linkCount(fs.FileInfo) (uint64, bool) { return 0, false }

// TryLock takes an exclusive lock on f without waiting (LockFileEx). ok is
// false when another process holds it.
func TryLock(f *os.File) (ok bool, err error) {
	ol := new(windows.Overlapped)
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return false, nil
	}
	return err == nil, err
}

// renameNoReplace: MoveFileEx, as os.Rename calls it, never replaces a
// directory, and a directory is what is renamed here. A file in the way
// is refused by the check first.
func renameNoReplace(old, new string) error {
	if _, err := os.Lstat(new); err == nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: fs.ErrExist}
	}
	return os.Rename(old, new)
}

// openNoFollow refuses a symbolic link (a reparse point) found at path
// first; Windows has no O_NOFOLLOW, so a link made between the check and
// the open is not caught.
func openNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &os.PathError{Op: "open", Path: path, Err: syscall.ELOOP}
	}
	return os.OpenFile(path, flag, perm)
}

// Writable is assumed on Windows, where containers do not pull models
// into mounted volumes; a failure to create there is reported as it
// happens.
func Writable(string) bool { return true }
