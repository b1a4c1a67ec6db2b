// Package store is the local content store that pulls fetch blobs into:
// blobs are kept by digest, written only after their digest checks out,
// re-hashed before they are reused, and fetched resumably (an interrupted
// fetch leaves its bytes and its progress behind, and the next one asks
// only for the rest) and, for large blobs, in parallel ranges.
//
// Layout under the store's directory:
//
//	blobs/sha256/<hex>       complete, verified blobs
//	partial/sha256-<hex>     a blob being fetched, written at its offsets
//	partial/sha256-<hex>.json  which ranges of it are written
//	partial/sha256-<hex>.lock  held (flock) by the process fetching it
//
// Pulls place raw files by hard link from blobs/, so a file shared by two
// models costs its disk space once; Prune removes blobs no pulled
// directory links to any more.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/fsx"
	"github.com/vessel-oci/vessel/internal/iox"
)

// Store is a directory of verified blobs. It is safe for concurrent use,
// also by several processes: fetches of one blob are serialised by a lock
// file, and blobs appear by rename, complete.
type Store struct {
	dir string
}

// Open creates (if needed) and opens the store in dir. Its blobs/ and
// partial/ must be directories, not symbolic links to one: a link planted
// there would send the store's writes elsewhere. (dir itself may be a
// link: that is the user's choice of where the store lives.)
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{filepath.Join(abs, "blobs"), filepath.Join(abs, "partial")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("content store %s: %w", abs, err)
		}
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("content store %s: %w: %s is not a directory (a symbolic link?)", abs, errdef.ErrUnsafePath, p)
		}
	}
	return &Store{dir: abs}, nil
}

// OpenPrivate opens a store whose place the caller chose, not the user
// (a pull's private store beside its destination): there dir itself must
// be a directory too, as a link found at that name was planted.
func OpenPrivate(dir string) (*Store, error) {
	if fi, err := os.Lstat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("content store %s: %w: not a directory (a symbolic link?); vessel makes it itself, so remove it", dir, errdef.ErrUnsafePath)
	}
	return Open(dir)
}

// DefaultDir is the store in the user's cache directory
// ($XDG_CACHE_HOME/vessel/store on Linux).
func DefaultDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "vessel", "store"), nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// path is where a complete blob lives. d must be valid (its encoded part
// is then hex only, so it cannot leave the directory).
func (s *Store) path(d digest.Digest) string {
	return filepath.Join(s.dir, "blobs", string(d.Algorithm()), d.Encoded())
}

func (s *Store) partial(d digest.Digest) string {
	return filepath.Join(s.dir, "partial", string(d.Algorithm())+"-"+d.Encoded())
}

// Get returns a stored copy of desc, open at offset 0, after hashing it
// again: a stored blob may have been changed since (through a hard link
// in a pulled directory, say), and is then removed and reported missing.
// The file returned is the one hashed, whatever its name in the store
// points at by the time it is used; the caller closes it.
func (s *Store) Get(ctx context.Context, desc ocispec.Descriptor) (*os.File, bool, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, false, fmt.Errorf("content store: %w: %v", errdef.ErrDigestMismatch, err)
	}
	p := s.path(desc.Digest)
	f, err := fsx.OpenRegular(p, os.O_RDONLY, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case errors.Is(err, fsx.ErrNotRegular):
		// Not a blob the store made (a planted link, say): dropped, and
		// the blob is fetched again.
		return nil, false, os.Remove(p)
	case err != nil:
		return nil, false, err
	}
	vr := errdef.NewVerifyReader(&iox.ContextReader{Ctx: ctx, R: f}, desc)
	buf := buffers.Get().(*[]byte)
	_, err = io.CopyBuffer(io.Discard, vr, *buf)
	buffers.Put(buf)
	if err == nil {
		err = vr.Verify()
	}
	if err == nil {
		if _, err = f.Seek(0, io.SeekStart); err == nil {
			return f, true, nil
		}
	}
	f.Close()
	if errors.Is(err, errdef.ErrDigestMismatch) || errors.Is(err, errdef.ErrSizeMismatch) {
		// Unlinks only the store's name: a pulled file sharing the inode stays.
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return nil, false, rerr
		}
		return nil, false, nil
	}
	return nil, false, err
}

// progressTemp reports whether name is the temporary of a progress
// record (fsx.WriteFile's ".NAME.json.RANDOM.tmp") and of which blob.
func progressTemp(name string) (blob string, ok bool) {
	if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".tmp") {
		return "", false
	}
	blob, _, ok = strings.Cut(name[1:], ".json.")
	return blob, ok && blob != ""
}

// Resumable reports whether an interrupted fetch left bytes behind.
func (s *Store) Resumable() bool {
	names, _ := filepath.Glob(filepath.Join(s.dir, "partial", "*.json"))
	return len(names) > 0
}

// Abandon removes what an interrupted fetch of d left (its partial data
// and progress record), unless a fetch of d runs now (holds its lock): a
// pull refused for verification has nothing worth resuming.
func (s *Store) Abandon(d digest.Digest) {
	p := s.partial(d)
	for _, left := range []string{p, p + ".json"} {
		if _, err := os.Lstat(left); err == nil {
			removeUnlocked(p)
			return
		}
	}
}

// removeUnlocked removes the partial fetch at p unless a fetch holds its
// lock, and returns the bytes it freed.
func removeUnlocked(p string) int64 {
	unlock, ok, err := tryLock(p + ".lock")
	if err != nil || !ok {
		return 0
	}
	defer unlock()
	var freed int64
	if fi, err := os.Stat(p); err == nil {
		freed = fi.Size()
	}
	removePartial(p)
	return freed
}

// Prune removes the blobs that no pulled directory shares (a link count
// of one: only the store's own name) and abandoned partial fetches, and
// returns how many bytes it freed, with the temporaries a crash left of
// their progress records. Partial fetches in progress (locked) are left
// alone.
func (s *Store) Prune() (int64, error) {
	var freed int64
	err := filepath.WalkDir(filepath.Join(s.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if n, ok := fsx.LinkCount(fi); !ok || n > 1 || !fi.Mode().IsRegular() {
			return nil // shared, or not known to be unshared
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		freed += fi.Size()
		return nil
	})
	if err != nil {
		return freed, err
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, "partial"))
	if err != nil {
		return freed, err
	}
	for _, e := range entries {
		name := e.Name()
		if blob, ok := progressTemp(name); ok {
			// A progress record's temporary, left by a crash between its
			// write and its rename: gone once no fetch of its blob runs.
			p := filepath.Join(s.dir, "partial", blob)
			if unlock, ok, err := tryLock(p + ".lock"); err == nil && ok {
				if fi, err := os.Lstat(filepath.Join(s.dir, "partial", name)); err == nil {
					freed += fi.Size()
				}
				os.Remove(filepath.Join(s.dir, "partial", name))
				unlock()
			}
			continue
		}
		if filepath.Ext(name) != "" {
			continue // .json and .lock go with their blob
		}
		freed += removeUnlocked(filepath.Join(s.dir, "partial", name))
	}
	return freed, nil
}
