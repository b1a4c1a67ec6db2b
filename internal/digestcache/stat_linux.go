package digestcache

import (
	"io/fs"
	"syscall"
)

// keyOf reads the identity of a file from its stat result.
func keyOf(fi fs.FileInfo) (key, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return key{}, false
	}
	return key{
		Dev:   uint64(st.Dev), // uint32 on some Linux ports
		Ino:   st.Ino,
		Size:  st.Size,
		Mtime: st.Mtim.Nano(),
		Ctime: st.Ctim.Nano(),
	}, true
}
