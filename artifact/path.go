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
// the unpacked tree depend on layer order.
type pathSet struct {
	files map[string]bool
	dirs  map[string]bool
}

func newPathSet() *pathSet {
	return &pathSet{files: map[string]bool{}, dirs: map[string]bool{}}
}

// addFile claims clean path p as a regular file.
func (s *pathSet) addFile(p string) error {
	if s.files[p] {
		return fmt.Errorf("%w: %q: duplicate path", errdef.ErrUnsafePath, p)
	}
	if s.dirs[p] {
		return fmt.Errorf("%w: %q: is both a file and a directory", errdef.ErrUnsafePath, p)
	}
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if s.files[d] {
			return fmt.Errorf("%w: %q: parent %q is a file", errdef.ErrUnsafePath, p, d)
		}
	}
	s.files[p] = true
	for d := path.Dir(p); d != "." && !s.dirs[d]; d = path.Dir(d) {
		s.dirs[d] = true
	}
	return nil
}

// addDir claims clean path p as a directory.
func (s *pathSet) addDir(p string) error {
	for d := p; d != "."; d = path.Dir(d) {
		if s.files[d] {
			return fmt.Errorf("%w: %q: is both a file and a directory", errdef.ErrUnsafePath, d)
		}
	}
	for d := p; d != "." && !s.dirs[d]; d = path.Dir(d) {
		s.dirs[d] = true
	}
	return nil
}
