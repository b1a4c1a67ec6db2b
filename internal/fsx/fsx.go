// Package fsx holds vessel's filesystem specifics behind one small,
// portable API: atomic writes, directory fsync, the exchange rename that
// swaps a pulled directory into place, block preallocation, early
// writeback, lock files, same-filesystem checks and file identities.
//
// Linux gets the fast or atomic system calls (renameat2, fallocate,
// sync_file_range, flock); other systems get portable equivalents whose
// differences are documented on each function and in the README.
package fsx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Durability says what an atomic write promises after a crash.
type Durability int

const (
	// Durable fsyncs the file before the rename and the directory after
	// it: once WriteFile returns, the new content survives a crash.
	Durable Durability = iota
	// Replaceable skips both fsyncs, for records whose loss after a crash
	// only costs work (a progress record, a cache): readers still see the
	// old content or the new, never a mix.
	Replaceable
)

// WriteFile replaces path with data through a temporary file created
// beside it (O_EXCL, a random name, so nothing planted there is followed)
// and renamed over path, whose directory must exist.
func WriteFile(path string, data []byte, perm fs.FileMode, d Durability) error {
	return WriteFileFunc(path, perm, d, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileFunc is WriteFile with the content written by write, streamed
// (a large record need not be built in memory first).
func WriteFileFunc(path string, perm fs.FileMode, d Durability, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && d == Durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d == Durable {
		return SyncDir(dir)
	}
	return nil
}

// ErrNotRegular: something other than a regular file is at a path that
// must hold one (a symbolic link, a FIFO, a directory).
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path as os.OpenFile does, but only a regular file:
// a symbolic link there is not followed, a FIFO is not waited on, and
// either (or anything else that is not a regular file) is ErrNotRegular,
// so a name planted in a directory vessel owns is never read or written
// through. The caller decides what to do with such a name (usually remove
// it: Remove takes the link itself, not its target).
func OpenRegular(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := openNoFollow(path, flag, perm)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("open %s: %w (%s)", path, ErrNotRegular, fi.Mode().Type())
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("open %s: %w (%s)", path, ErrNotRegular, fi.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// CreateNew creates path, which must not exist yet (O_EXCL: a planted
// file or link there is an error, never followed), writes data and
// fsyncs it.
func CreateNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDirs fsyncs every directory under root, so new entries survive a
// crash.
func SyncDirs(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return SyncDir(p)
	})
}

// Exchange swaps the directories (or files) a and b, both of which
// exist. Where the filesystem can (Linux renameat2 RENAME_EXCHANGE) this
// is one atomic step; elsewhere b is moved aside and a put in its place,
// leaving a short window in which b is missing, never one in which it is
// partial. Afterwards a holds what b held.
func Exchange(a, b string) error {
	err := exchange(a, b)
	if errors.Is(err, errors.ErrUnsupported) {
		err = swapByRename(a, b)
	}
	return err
}

func swapByRename(a, b string) error {
	old := a + ".old"
	if err := os.Rename(b, old); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		_ = os.Rename(old, b)
		return err
	}
	return os.Rename(old, a)
}

// RenameNoReplace renames old to new only if nothing is at new: of two
// racing renames to one name, exactly one wins and the other fails with an
// error wrapping fs.ErrExist. Linux (renameat2 RENAME_NOREPLACE), macOS
// (renamex_np RENAME_EXCL) and Windows (which never renames over a
// directory) do it in one step; elsewhere, or on a filesystem that cannot,
// a check comes first and leaves a window between the two.
func RenameNoReplace(old, new string) error {
	err := renameNoReplace(old, new)
	if errors.Is(err, errors.ErrUnsupported) {
		if _, lerr := os.Lstat(new); lerr == nil {
			return &os.LinkError{Op: "rename", Old: old, New: new, Err: fs.ErrExist}
		}
		err = os.Rename(old, new)
	}
	return err
}

// SameFilesystem reports whether a and the nearest existing ancestor of b
// are on one filesystem (where a hard link from one to the other works).
func SameFilesystem(a, b string) bool {
	ia, err := os.Stat(a)
	if err != nil {
		return false
	}
	b, _ = filepath.Abs(b)
	for {
		ib, err := os.Stat(b)
		if err == nil {
			return sameDevice(a, ia, b, ib)
		}
		parent := filepath.Dir(b)
		if parent == b {
			return false
		}
		b = parent
	}
}

// Identity is what tells one version of a file from another without
// reading it: device, inode, size and change times.
type Identity struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64 // nanoseconds
}

// IdentityOf returns fi's identity. ok is false where the system does not
// expose one (then nothing may be cached by it).
func IdentityOf(fi fs.FileInfo) (id Identity, ok bool) {
	if !fi.Mode().IsRegular() {
		return Identity{}, false
	}
	return identityOf(fi)
}

// LinkCount returns how many names fi's file has; ok is false where the
// system does not say (then the caller must assume it is shared).
func LinkCount(fi fs.FileInfo) (n uint64, ok bool) { return linkCount(fi) }

// Names reports whether path (not following a link there) still names
// the file open as f: a lock taken on f guards that name only if so.
func Names(path string, f *os.File) bool {
	held, err1 := f.Stat()
	named, err2 := os.Lstat(path)
	return err1 == nil && err2 == nil && os.SameFile(held, named)
}
