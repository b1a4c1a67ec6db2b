package fsx

import (
	"io/fs"
	"syscall"
)

func identityOf(fi fs.FileInfo) (Identity, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Identity{}, false
	}
	return Identity{
		Dev:   uint64(st.Dev),
		Ino:   st.Ino,
		Size:  st.Size,
		Mtime: st.Mtimespec.Nano(),
		Ctime: st.Ctimespec.Nano(),
	}, true
}
