package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return errors.ErrUnsupported
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}

func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return errors.ErrUnsupported
	}
	if err != nil {
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
	}
	return nil
}

// Preallocate reserves size bytes of blocks for f without changing its
// size (fallocate KEEP_SIZE: the size still says how far it was written),
// so a full disk fails now, not after most of a blob came over the
// network, and writes skip the filesystem's block reservation one page at
// a time. It fails only when the disk is too small (wrapping ENOSPC); a
// filesystem that cannot preallocate is not an error.
//
// A size beyond the free space is refused from statfs before fallocate is
// tried: ext4 keeps what a failed fallocate reserved until the file goes,
// so for that moment the disk would be full for everyone else too.
func Preallocate(f *os.File, size int64) error {
	var fs unix.Statfs_t
	var st unix.Stat_t
	if unix.Fstatfs(int(f.Fd()), &fs) == nil && unix.Fstat(int(f.Fd()), &st) == nil {
		free := int64(fs.Bavail) * int64(fs.Bsize)
		if need := size - int64(st.Blocks)*512; need > free {
			return fmt.Errorf("reserve %d bytes for %s: %d free: %w", size, f.Name(), free, unix.ENOSPC)
		}
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, size)
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("reserve %d bytes for %s: %w", size, f.Name(), err)
	}
	return nil
}

func startWriteback(f *os.File, off, n int64) {
	// Advisory: an error only means writeback starts later, at fsync.
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

func identityOf(fi fs.FileInfo) (Identity, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Identity{}, false
	}
	return Identity{
		Dev:   uint64(st.Dev), // uint32 on some Linux ports
		Ino:   st.Ino,
		Size:  st.Size,
		Mtime: st.Mtim.Nano(),
		Ctime: st.Ctim.Nano(),
	}, true
}

// SyncFS makes everything written to the filesystem holding dir durable,
// in one call (syncfs), where fsyncing thousands of small files one by
// one would wait for the disk thousands of times.
func SyncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}
