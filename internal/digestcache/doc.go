// Package digestcache remembers the sha256 digests of local files between
// runs, so that pushing an unchanged model again does not read every byte.
//
// An entry is keyed by the file's absolute path and by what the kernel
// changes whenever the content may have changed: device, inode, size,
// modification time and status-change time (ctime), all from one stat.
// Restoring an old mtime (touch -d, os.Chtimes) still moves ctime, which no
// unprivileged process can set, so a rewritten file always misses.
//
// A file changed within the timestamp granularity of its last change cannot
// be told apart by its timestamps ("racily clean" in git's words), so Store
// keeps nothing for a file whose mtime or ctime is less than RacyWindow
// older than the stat that described it; such files are hashed again next
// time, by when they have aged.
//
// The cache is only an optimisation: a missing, unreadable or corrupt file
// is an empty cache, and Save replaces the file atomically (temporary file
// and rename), so concurrent processes never see a torn file; the last
// writer wins, after merging what the file held. At most MaxEntries are
// kept, the least recently used dropped first.
//
// Timestamps come from the file system's clock: on a network file system
// whose clock runs well behind the local one, a file changed during a push
// may be cached as clean. Local file systems share the kernel's clock.
package digestcache
