//go:build linux

package main

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// dropCaches is where Linux takes a request to drop clean page cache; only
// root may write it, and a bench run without it still works.
const dropCaches = "/proc/sys/vm/drop_caches"

// settle puts the machine in the same state before every timed run: what
// earlier runs left dirty is written out, the page cache is emptied where
// the bench may (root), and then exactly the run's inputs are read back in.
// Without the drop, later runs found the cache full of earlier runs'
// registry data and paid for reclaiming it (olareg 4 GiB pushes spread
// from 6 s to 11 s).
func settle(warm ...string) {
	syscall.Sync()
	if f, err := os.OpenFile(dropCaches, os.O_WRONLY, 0); err == nil {
		f.WriteString("1")
		f.Close()
	}
	for _, root := range warm {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil // a tree changing under the walk is not the bench's concern
			}
			if f, err := os.Open(p); err == nil {
				io.Copy(io.Discard, f)
				f.Close()
			}
			return nil
		})
	}
}

// mayDropCaches reports whether settle can empty the page cache here.
func mayDropCaches() bool {
	return syscall.Access(dropCaches, 2 /* W_OK */) == nil
}
