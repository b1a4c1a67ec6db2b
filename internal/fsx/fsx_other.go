//go:build !linux

package fsx

import (
	"errors"
	"os"
)

// exchange has no portable atomic form; Exchange falls back to two renames.
func exchange(a, b string) error { return errors.ErrUnsupported }

// Preallocate does nothing off Linux: a full disk is found when a write
// fails, and the pull is still refused and cleaned up then.
func Preallocate(f *os.File, size int64) error { return nil }

func startWriteback(f *os.File, off, n int64) {}

// SyncFS: only Linux has syncfs; callers fsync file by file.
func SyncFS(dir string) error { return errors.ErrUnsupported }
