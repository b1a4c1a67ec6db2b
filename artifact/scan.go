package artifact

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// DefaultExcludes are skipped at the top level of a model directory, as the
// OpenSSF Model Signing spec (section 6.2) requires of signers.
var DefaultExcludes = []string{".git", ".gitignore", ".gitattributes", ".github"}

// File is one regular file of a model directory, ready to be packed.
type File struct {
	// Path is relative to the model root, slash-separated and canonical.
	Path string
	// Source is the file to read on disk (the target of an allowed symlink).
	Source string
	// Size in bytes, as seen when scanning.
	Size int64
	// Mode holds the permission bits.
	Mode fs.FileMode
	// MediaType of the layer that will carry the file.
	MediaType string
}

// ScanOptions say which files are packed and how they are typed.
type ScanOptions struct {
	// Dataset types every non-documentation file as a dataset layer.
	Dataset bool
	// MediaTypes override the default media type of matching files.
	MediaTypes []MediaTypeRule
	// AllowSymlinks packs symlinks that resolve to a regular file inside the
	// root, with the target's content. Without it any symlink is an error.
	AllowSymlinks bool
	// Exclude lists extra paths, relative to the root, to leave out.
	Exclude []string
	// Limit, if set, is told the count and name bytes of the files found
	// so far as each is added; its error stops the scan there, so a
	// directory too large to sign is refused without listing all of it.
	Limit func(files int, nameBytes int64) error
}

// Scan lists the regular files under root in sorted path order. It refuses,
// rather than skips, what it cannot pack faithfully: special files, symlinks
// (unless allowed), names that are not UTF-8, and paths that would collide.
func Scan(root string, opts ScanOptions) ([]File, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("scan %s: %w: not a directory", root, ErrUnsupportedFile)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	excluded := map[string]bool{}
	for _, e := range DefaultExcludes {
		excluded[e] = true
	}
	for _, e := range opts.Exclude {
		excluded[filepath.ToSlash(filepath.Clean(e))] = true
	}

	var files []File
	seen := newPathSet(Folding{})
	// Walk the resolved root: WalkDir does not follow a root that is itself
	// a symlink ("latest" -> "v3"), and would silently find no files.
	var names int64 // name bytes so far, for opts.Limit
	err = filepath.WalkDir(realRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == realRoot {
			return nil
		}
		relOS, err := filepath.Rel(realRoot, p)
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(relOS)
		if excluded[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !utf8.ValidString(rel) {
			return fmt.Errorf("%w: %q: name is not valid UTF-8", ErrUnsupportedFile, p)
		}
		if _, err := CleanPath(rel); err != nil {
			return fmt.Errorf("scan %s: %w", p, err)
		}
		source := p
		switch t := d.Type(); {
		case t.IsDir():
			return nil
		case t&fs.ModeSymlink != 0:
			if !opts.AllowSymlinks {
				return fmt.Errorf("%w: %s is a symlink (use --allow-symlinks for links that stay inside the model)", ErrUnsupportedFile, p)
			}
			target, err := insideTarget(realRoot, p)
			if err != nil {
				return err
			}
			source = target
		case !t.IsRegular():
			return fmt.Errorf("%w: %s is a %s, not a regular file", ErrUnsupportedFile, p, kindOf(t))
		}
		fi, err := os.Stat(source)
		if err != nil {
			return err
		}
		if err := seen.addFile(rel); err != nil {
			return err
		}
		files = append(files, File{
			Path:      rel,
			Source:    source,
			Size:      fi.Size(),
			Mode:      fi.Mode().Perm(),
			MediaType: layerMediaType(rel, opts.Dataset, opts.MediaTypes),
		})
		if opts.Limit != nil {
			names += int64(len(rel))
			return opts.Limit(len(files), names)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// insideTarget resolves symlink p and checks it lands on a regular file
// inside realRoot.
func insideTarget(realRoot, p string) (string, error) {
	target, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("%w: symlink %s: %v", ErrUnsupportedFile, p, err)
	}
	rel, err := filepath.Rel(realRoot, target)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%w: symlink %s points outside the model directory (to %s)", ErrUnsupportedFile, p, target)
	}
	fi, err := os.Stat(target)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: symlink %s points to a %s, not a regular file", ErrUnsupportedFile, p, kindOf(fi.Mode().Type()))
	}
	return target, nil
}

func kindOf(t fs.FileMode) string {
	switch {
	case t.IsDir():
		return "directory"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeDevice != 0:
		return "device"
	case t&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "special file"
}
