package artifact

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
)

func scanPaths(files []File) []string {
	out := []string{}
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

func TestScan(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	testutil.WriteTree(t, root, map[string]string{
		"README.md":                "# model",
		"config.json":              `{"model_type":"llama"}`,
		"model.safetensors":        "weights!",
		"a.txt":                    "sorts before a/",
		"a/b.bin":                  "b",
		"a/c/deep.py":              "print()",
		"sub/.git/keep":            "kept: only the top-level .git is excluded",
		"sub/.gitignore":           "kept",
		".hidden":                  "kept",
		".git/HEAD":                "ref: refs/heads/main",
		".git/objects/ab/cd":       "x",
		".gitignore":               "*.tmp",
		".gitattributes":           "* text",
		".github/workflows/ci.yml": "on: push",
	})
	if err := os.Chmod(filepath.Join(root, "a", "c", "deep.py"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "empty", "dirs"), 0o755); err != nil {
		t.Fatal(err)
	}

	files, err := Scan(root, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		".hidden", "README.md", "a.txt", "a/b.bin", "a/c/deep.py", "config.json",
		"model.safetensors", "sub/.git/keep", "sub/.gitignore",
	}
	if got := scanPaths(files); !slices.Equal(got, want) {
		t.Fatalf("Scan paths:\n got %q\nwant %q", got, want)
	}
	byPath := map[string]File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	for _, tc := range []struct {
		path      string
		size      int64
		mode      fs.FileMode
		mediaType string
	}{
		{"README.md", 7, 0o644, RoleDoc.RawMediaType()},
		{"config.json", 22, 0o644, RoleWeightConfig.RawMediaType()},
		{"model.safetensors", 8, 0o644, RoleWeight.RawMediaType()},
		{"a/c/deep.py", 7, 0o755, RoleCode.RawMediaType()},
	} {
		f := byPath[tc.path]
		if f.Size != tc.size || f.Mode != tc.mode || f.MediaType != tc.mediaType {
			t.Errorf("%s: size %d mode %v type %q; want %d %v %q", tc.path, f.Size, f.Mode, f.MediaType, tc.size, tc.mode, tc.mediaType)
		}
		if want := filepath.Join(realRoot, filepath.FromSlash(tc.path)); f.Source != want {
			t.Errorf("%s: Source = %q, want %q", tc.path, f.Source, want)
		}
	}
}

func TestScanOptions(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	testutil.WriteTree(t, root, map[string]string{
		"README.md":      "doc",
		"config.json":    "{}",
		"model.bin":      "w",
		"cache/x.bin":    "skip me",
		"sub/notes.json": "skip me too",
		"sub/keep.json":  "keep",
	})
	files, err := Scan(root, ScanOptions{
		Dataset:    true,
		Exclude:    []string{"cache", "./sub/notes.json"},
		MediaTypes: []MediaTypeRule{{Pattern: "model.bin", MediaType: "application/x-custom"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = f.MediaType
	}
	want := map[string]string{
		"README.md":     RoleDoc.RawMediaType(),
		"config.json":   RoleDataset.RawMediaType(),
		"model.bin":     "application/x-custom",
		"sub/keep.json": RoleDataset.RawMediaType(),
	}
	if len(got) != len(want) {
		t.Fatalf("Scan = %v, want %v", got, want)
	}
	for p, mt := range want {
		if got[p] != mt {
			t.Errorf("%s: media type %q, want %q", p, got[p], mt)
		}
	}
}

func TestScanEmpty(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	files, err := Scan(root, ScanOptions{})
	if err != nil || len(files) != 0 {
		t.Fatalf("Scan(empty dir) = %v, %v; want no files", files, err)
	}
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.WriteTree(t, root, map[string]string{".git/HEAD": "x"})
	files, err = Scan(root, ScanOptions{})
	if err != nil || len(files) != 0 {
		t.Fatalf("Scan(only dirs and .git) = %v, %v; want no files", files, err)
	}
}

func TestScanRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testutil.WriteTree(t, dir, map[string]string{"model/w.bin": "w", "file": "f"})

	if _, err := Scan(filepath.Join(dir, "file"), ScanOptions{}); !errors.Is(err, ErrUnsupportedFile) {
		t.Errorf("Scan(a file) = %v, want ErrUnsupportedFile", err)
	}
	if _, err := Scan(filepath.Join(dir, "missing"), ScanOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Scan(missing) = %v, want fs.ErrNotExist", err)
	}
	// A root that is itself a symlink to a directory ("latest" -> "v3") is
	// scanned through: its files are packed, not silently skipped.
	link := filepath.Join(dir, "latest")
	if err := os.Symlink("model", link); err != nil {
		t.Fatal(err)
	}
	files, err := Scan(link, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := scanPaths(files); !slices.Equal(got, []string{"w.bin"}) {
		t.Errorf("Scan(symlinked root) = %q, want [w.bin]", got)
	}
	for _, f := range files {
		if b, err := os.ReadFile(f.Source); err != nil || string(b) != "w" {
			t.Errorf("Source %q reads %q, %v", f.Source, b, err)
		}
	}
}

func TestScanSymlinks(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	testutil.WriteTree(t, outside, map[string]string{"secret": "do not pack"})

	tests := []struct {
		name   string
		target string // relative to the link's directory, or absolute
		allow  bool
		ok     bool
	}{
		{"refused by default", "model.bin", false, false},
		{"inside, allowed", "model.bin", true, true},
		{"inside via absolute path, allowed", "", true, true}, // target filled below
		{"into subdirectory, allowed", "sub/w.bin", true, true},
		{"outside, allowed", filepath.Join(outside, "secret"), true, false},
		{"outside via dotdot, allowed", "../" + filepath.Base(outside) + "/secret", true, false},
		{"to a directory", "sub", true, false},
		{"dangling", "missing", true, false},
		{"loop", "link", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Put the root next to outside so "../<outside>" resolves to it.
			root, err := os.MkdirTemp(filepath.Dir(outside), "root")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(root) })
			testutil.WriteTree(t, root, map[string]string{"model.bin": "weights", "sub/w.bin": "sub weights"})
			target := tc.target
			if target == "" {
				target = filepath.Join(root, "model.bin")
			}
			if err := os.Symlink(target, filepath.Join(root, "link")); err != nil {
				t.Fatal(err)
			}
			if tc.name == "outside, allowed" || tc.name == "outside via dotdot, allowed" {
				// The link must really reach the secret, or the case proves nothing.
				if b, err := os.ReadFile(filepath.Join(root, "link")); err != nil || string(b) != "do not pack" {
					t.Fatalf("test setup: link reads %q, %v", b, err)
				}
			}
			files, err := Scan(root, ScanOptions{AllowSymlinks: tc.allow})
			if !tc.ok {
				if !errors.Is(err, ErrUnsupportedFile) {
					t.Fatalf("Scan = %v, %v; want ErrUnsupportedFile", scanPaths(files), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := scanPaths(files); !slices.Equal(got, []string{"link", "model.bin", "sub/w.bin"}) {
				t.Fatalf("Scan paths = %q", got)
			}
			link := files[0]
			want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(tc.target)))
			if tc.target == "" {
				want, err = os.ReadFile(target)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(link.Source)
			if err != nil || string(got) != string(want) || link.Size != int64(len(want)) {
				t.Errorf("link: Source %q has %q (size %d), want the target's %q", link.Source, got, link.Size, want)
			}
		})
	}
}

func TestScanRefusesBadNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want error
	}{
		{"invalid UTF-8", "w\xff.bin", ErrUnsupportedFile},
		{"control character", "w\x01.bin", errdef.ErrUnsafePath},
		{"newline", "w\n.bin", errdef.ErrUnsafePath},
		{"backslash", `w\x.bin`, errdef.ErrUnsafePath},
		{"drive letter", "c:w.bin", errdef.ErrUnsafePath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, tc.file), []byte("x"), 0o644); err != nil {
				t.Skipf("file system refuses the name: %v", err)
			}
			files, err := Scan(root, ScanOptions{})
			if !errors.Is(err, tc.want) {
				t.Errorf("Scan = %q, %v; want %v", scanPaths(files), err, tc.want)
			}
		})
	}
}

// Limit stops a scan at the first file it refuses, with its error, having
// been told the running count and name bytes.
func TestScanLimit(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.bin", "b.bin", "c.bin", "d.bin", "e.bin"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tooMany := errors.New("too many")
	var calls []int64
	_, err := Scan(dir, ScanOptions{Limit: func(files int, names int64) error {
		calls = append(calls, int64(files), names)
		if files > 2 {
			return tooMany
		}
		return nil
	}})
	if !errors.Is(err, tooMany) {
		t.Fatalf("scan with a limit of 2 files: %v", err)
	}
	if want := []int64{1, 5, 2, 10, 3, 15}; !slices.Equal(calls, want) {
		t.Fatalf("limit was told %v, want %v (then no more)", calls, want)
	}
	if files, err := Scan(dir, ScanOptions{Limit: func(int, int64) error { return nil }}); err != nil || len(files) != 5 {
		t.Fatalf("scan under the limit: %d files, %v", len(files), err)
	}
}
