package artifact

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/vessel-oci/vessel/errdef"
)

// Path limits. Linux allows 4096 bytes for a whole path and 255 for a name;
// a model path longer than that could not be written anyway.
const (
	MaxPathLength = 4096
	MaxNameLength = 255
)

// CleanPath validates a file path that came from outside (a manifest
// annotation or a tar header) and returns it in canonical form: relative,
// slash-separated, with no "." or ".." elements. It refuses rather than
// repairs anything suspicious, so "a/../b" is an error, not "b".
func CleanPath(p string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %q: %s", errdef.ErrUnsafePath, p, why)
	}
	switch {
	case p == "":
		return bad("empty")
	case len(p) > MaxPathLength:
		return bad(fmt.Sprintf("longer than %d bytes", MaxPathLength))
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case strings.ContainsRune(p, 0):
		return bad("contains NUL")
	case strings.Contains(p, `\`):
		// A backslash is a separator on Windows: refuse it everywhere so a
		// path means the same thing on every platform.
		return bad("contains a backslash")
	case strings.HasPrefix(p, "/"):
		return bad("absolute")
	}
	// Tar writers often add a leading "./" and directories a trailing "/".
	q := strings.TrimPrefix(p, "./")
	q = strings.TrimSuffix(q, "/")
	if q == "" || q == "." {
		return bad("names the root")
	}
	// Checked after trimming, so "./C:x" is refused like "C:x".
	if len(q) >= 2 && q[1] == ':' {
		return bad("has a drive letter")
	}
	for _, elem := range strings.Split(q, "/") {
		switch {
		case elem == "":
			return bad("has an empty element")
		case elem == "." || elem == "..":
			return bad("has a " + elem + " element")
		case len(elem) > MaxNameLength:
			return bad(fmt.Sprintf("has a name longer than %d bytes", MaxNameLength))
		}
		for _, r := range elem {
			if r < 0x20 || r == 0x7f {
				return bad("has a control character")
			}
		}
	}
	if path.Clean(q) != q {
		return bad("is not canonical")
	}
	return q, nil
}

// pathSet records claimed paths and refuses duplicates and file/directory
// conflicts ("a" as a file and "a/b" as a file), which would otherwise make
// the unpacked tree depend on layer order. With a Folding it also refuses
// two names the target filesystem would take for one ("A.bin", "a.bin").
type pathSet struct {
	fold Folding
	// files and dirs map a name's key (see Folding.key) to the name as it
	// was claimed, to tell a duplicate from a clash of two spellings.
	files map[string]string
	dirs  map[string]string
}

func newPathSet(fold Folding) *pathSet {
	return &pathSet{fold: fold, files: map[string]string{}, dirs: map[string]string{}}
}

// clash is the error for p against a name claimed before as prev.
func (s *pathSet) clash(p, prev, what string) error {
	if p == prev {
		return fmt.Errorf("%w: %q: %s", errdef.ErrUnsafePath, p, what)
	}
	return fmt.Errorf("%w: %q and %q are one name on a filesystem that %s, so one signed file would replace or merge with the other", errdef.ErrUnsafePath, prev, p, s.fold)
}

// addFile claims clean path p as a regular file.
func (s *pathSet) addFile(p string) error {
	k := s.fold.key(p)
	if prev, ok := s.files[k]; ok {
		return s.clash(p, prev, "duplicate path")
	}
	if prev, ok := s.dirs[k]; ok {
		return s.clash(p, prev, "is both a file and a directory")
	}
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if prev, ok := s.files[s.fold.key(d)]; ok {
			if prev != d {
				return s.clash(d, prev, "")
			}
			return fmt.Errorf("%w: %q: parent %q is a file", errdef.ErrUnsafePath, p, d)
		}
	}
	s.files[k] = p
	return s.claimDirs(path.Dir(p))
}

// addDir claims clean path p as a directory.
func (s *pathSet) addDir(p string) error {
	for d := p; d != "."; d = path.Dir(d) {
		if prev, ok := s.files[s.fold.key(d)]; ok {
			return s.clash(d, prev, "is both a file and a directory")
		}
	}
	return s.claimDirs(p)
}

// claimDirs claims d and its parents as directories. The same directory
// may be claimed any number of times, but not in two spellings.
func (s *pathSet) claimDirs(d string) error {
	for ; d != "."; d = path.Dir(d) {
		k := s.fold.key(d)
		prev, ok := s.dirs[k]
		if ok && prev != d {
			return s.clash(d, prev, "")
		}
		if ok {
			return nil // its parents were claimed with it
		}
		s.dirs[k] = d
	}
	return nil
}
