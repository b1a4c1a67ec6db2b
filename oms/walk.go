package oms

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// localFile is one regular file of the model on disk.
type localFile struct {
	name string // canonical relative POSIX path; "." for a single-file model
	path string // filesystem path to open (a link's target is read through it)
	size int64
}

// walker enumerates a model as the reference does: every regular file
// under the root, ignore paths (and their subtrees) skipped before anything
// else is looked at, symbolic links refused unless allowed (then followed,
// and a link to a directory is walked), special files refused.
type walker struct {
	root          string
	rootReal      string
	ignore        []string // canonical model-relative paths; "." ignores all
	allowSymlinks bool
	logger        *slog.Logger
	files         []localFile
	refused       []refusedEntry
}

// refusedEntry is a path that cannot be hashed: a symbolic link (not
// allowed, or broken), a special file, a name that is not UTF-8. Signing
// fails on it; verifying fails too unless it is unsigned and unsigned files
// are accepted (the reference never looks at unsigned files then).
type refusedEntry struct {
	name string
	err  error
}

func (w *walker) refuse(rel string, format string, args ...any) {
	w.refused = append(w.refused, refusedEntry{name: rel, err: fmt.Errorf("%w: "+format, append([]any{ErrRefused}, args...)...)})
}

// scan lists the model's regular files sorted by name, and the entries it
// refused; single reports a model that is one file.
func scan(ctx context.Context, root string, ignore []string, allowSymlinks bool, logger *slog.Logger) (files []localFile, refused []refusedEntry, single bool, err error) {
	w := &walker{root: root, ignore: ignore, allowSymlinks: allowSymlinks, logger: logger}
	fi, err := os.Lstat(root)
	if err != nil {
		return nil, nil, false, fmt.Errorf("model %s: %w", root, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if !allowSymlinks {
			return nil, nil, false, fmt.Errorf("%w: model path %s is a symbolic link (allow symlinks to follow it)", ErrRefused, root)
		}
		if fi, err = os.Stat(root); err != nil {
			return nil, nil, false, fmt.Errorf("%w: model path %s: broken symbolic link: %v", ErrRefused, root, err)
		}
	}
	switch {
	case fi.Mode().IsRegular():
		return []localFile{{name: ".", path: root, size: fi.Size()}}, nil, true, nil
	case !fi.IsDir():
		return nil, nil, false, fmt.Errorf("%w: model path %s is not a file or directory", ErrRefused, root)
	}
	if w.rootReal, err = filepath.EvalSymlinks(root); err != nil {
		return nil, nil, false, fmt.Errorf("model %s: %w", root, err)
	}
	if slices.Contains(ignore, ".") {
		return nil, nil, false, nil
	}
	if err := w.dir(ctx, root, "", []string{w.rootReal}); err != nil {
		return nil, nil, false, err
	}
	slices.SortFunc(w.files, func(a, b localFile) int { return strings.Compare(a.name, b.name) })
	return w.files, w.refused, false, nil
}

func (w *walker) ignored(rel string) bool {
	for _, ig := range w.ignore {
		if rel == ig || strings.HasPrefix(rel, ig+"/") {
			return true
		}
	}
	return false
}

// dir walks one directory; stack holds the real paths of the directories
// being walked, to notice a link back to one of them.
func (w *walker) dir(ctx context.Context, dirPath, rel string, stack []string) error {
	entries, err := os.ReadDir(dirPath)
	if err != nil {
		return fmt.Errorf("model %s: %w", w.root, err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		relName := name
		if rel != "" {
			relName = rel + "/" + name
		}
		if w.ignored(relName) {
			continue
		}
		if !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
			w.refuse(relName, "%q: name is not UTF-8", relName)
			continue
		}
		p := filepath.Join(dirPath, name)
		info, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("model %s: %w", w.root, err)
		}
		mode := info.Mode()
		if mode&fs.ModeSymlink != 0 {
			if !w.allowSymlinks {
				w.refuse(relName, "%s is a symbolic link (allow symlinks to follow it)", relName)
				continue
			}
			if info, err = os.Stat(p); err != nil {
				w.refuse(relName, "%s: broken symbolic link: %v", relName, err)
				continue
			}
			mode = info.Mode()
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				w.refuse(relName, "%s: %v", relName, err)
				continue
			}
			if r, err := filepath.Rel(w.rootReal, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				w.logger.Warn("symbolic link points outside the model; its target is hashed", "path", relName, "target", real)
			}
			if mode.IsDir() {
				if slices.Contains(stack, real) {
					w.logger.Warn("symbolic link cycle skipped", "path", relName, "target", real)
					continue
				}
				if err := w.dir(ctx, p, relName, append(stack, real)); err != nil {
					return err
				}
				continue
			}
		} else if mode.IsDir() {
			real := filepath.Join(stack[len(stack)-1], name)
			if err := w.dir(ctx, p, relName, append(stack, real)); err != nil {
				return err
			}
			continue
		}
		if !mode.IsRegular() {
			w.refuse(relName, "%s is not a regular file (%s)", relName, mode.Type())
			continue
		}
		w.files = append(w.files, localFile{name: relName, path: p, size: info.Size()})
	}
	return nil
}
