package artifact

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vessel-oci/vessel/errdef"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	// A path of exactly MaxPathLength bytes.
	maxPath := strings.Repeat(long(200)+"/", MaxPathLength/201)
	maxPath += long(MaxPathLength - len(maxPath))
	if len(maxPath) != MaxPathLength {
		t.Fatalf("test setup: len(maxPath) = %d", len(maxPath))
	}

	accepted := []struct{ in, want string }{
		{"a", "a"},
		{"a/b", "a/b"},
		{"./a/b", "a/b"},
		{"a/b/", "a/b"},
		{"./a/", "a"},
		{"model-00001-of-00002.safetensors", "model-00001-of-00002.safetensors"},
		{"модель/веса.bin", "модель/веса.bin"},
		{"日本語/モデル.gguf", "日本語/モデル.gguf"},
		{"emoji-🤗.txt", "emoji-🤗.txt"},
		{"with space/and-dash_under.score", "with space/and-dash_under.score"},
		{".hidden", ".hidden"},
		{"sub/.git/HEAD", "sub/.git/HEAD"},
		{"..a", "..a"},
		{"a..", "a.."},
		{"...", "..."},
		{"a/.b/c", "a/.b/c"},
		{"ab:c", "ab:c"}, // only a one-letter first element is a drive
		{"dir/C:x", "dir/C:x"},
		{long(MaxNameLength), long(MaxNameLength)},
		{maxPath, maxPath},
	}
	for _, tc := range accepted {
		got, err := CleanPath(tc.in)
		if err != nil {
			t.Errorf("CleanPath(%.80q): unexpected error %.200v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("CleanPath(%.80q) = %.80q, want %.80q", tc.in, got, tc.want)
		}
	}

	refused := []struct{ name, in string }{
		{"empty", ""},
		{"absolute", "/abs"},
		{"absolute root", "/"},
		{"double leading slash", "//a"},
		{"dotdot", ".."},
		{"dotdot prefix", "../a"},
		{"dotdot suffix", "a/.."},
		{"dotdot inside", "a/../b"},
		{"dotdot after dot slash", "./../a"},
		{"dotdot with trailing slash", "../"},
		{"double slash", "a//b"},
		{"double trailing slash", "a//"},
		{"dot", "."},
		{"dot slash", "./"},
		{"dot slash dot", "./."},
		{"two dot slashes", "././a"},
		{"dot inside", "a/./b"},
		{"NUL", "a\x00b"},
		{"NUL only", "\x00"},
		{"backslash", `a\b`},
		{"backslash dotdot", `..\evil`},
		{"drive letter", "C:x"},
		{"drive letter slash", "c:/x"},
		{"drive letter after dot slash", "./C:x"},
		{"drive relative", "a:b"},
		{"bare drive", "c:"},
		{"newline", "a\nb"},
		{"tab", "a\tb"},
		{"escape", "a\x1b[31mb"},
		{"DEL", "a\x7fb"},
		{"control in dir", "a\x01/b"},
		{"path too long", maxPath + "x"},
		{"path too long in slashes", strings.Repeat("a/", MaxPathLength/2) + "a"},
		{"name too long", long(MaxNameLength + 1)},
		{"name too long in dir", "a/" + long(MaxNameLength+1) + "/b"},
		{"invalid UTF-8", "\xff"},
		{"truncated UTF-8", "a/\xc3"},
		{"overlong UTF-8 slash", "a\xc0\xafb"},
		{"surrogate", "a\xed\xa0\x80"},
	}
	for _, tc := range refused {
		got, err := CleanPath(tc.in)
		if !errors.Is(err, errdef.ErrUnsafePath) {
			t.Errorf("%s: CleanPath(%.80q) = %.80q, %v; want errdef.ErrUnsafePath", tc.name, tc.in, got, err)
		}
		if err != nil && got != "" {
			t.Errorf("%s: CleanPath(%q) returned %q with an error", tc.name, tc.in, got)
		}
	}
}

func TestPathSet(t *testing.T) {
	t.Parallel()
	type op struct {
		p   string
		dir bool
		ok  bool
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"distinct files", []op{{"a", false, true}, {"b", false, true}, {"c/d", false, true}}},
		{"siblings share a parent", []op{{"a/b", false, true}, {"a/c", false, true}, {"a", true, true}}},
		{"duplicate file", []op{{"a", false, true}, {"a", false, false}}},
		{"file then file below it", []op{{"a", false, true}, {"a/b", false, false}}},
		{"file below then file", []op{{"a/b", false, true}, {"a", false, false}}},
		{"deep file below a file", []op{{"a", false, true}, {"a/b/c/d", false, false}}},
		{"file then dir", []op{{"a", false, true}, {"a", true, false}}},
		{"dir then file", []op{{"a", true, true}, {"a", false, false}}},
		{"dir below a file", []op{{"a", false, true}, {"a/b", true, false}}},
		{"dir twice", []op{{"a", true, true}, {"a", true, true}}},
		{"prefix that is not a parent", []op{{"a", false, true}, {"ab/c", false, true}, {"a.b", false, true}}},
	}
	for _, tc := range tests {
		s := newPathSet(Folding{})
		for i, o := range tc.ops {
			var err error
			if o.dir {
				err = s.addDir(o.p)
			} else {
				err = s.addFile(o.p)
			}
			if o.ok && err != nil {
				t.Errorf("%s: op %d (%q): unexpected error %v", tc.name, i, o.p, err)
			}
			if !o.ok && !errors.Is(err, errdef.ErrUnsafePath) {
				t.Errorf("%s: op %d (%q): got %v, want errdef.ErrUnsafePath", tc.name, i, o.p, err)
			}
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"a", "a/b", "./a/b", "a/b/", "a//b", "../a", "a/../b", "/abs", ".", "./", "",
		"C:x", "./C:x", `a\b`, "a\x00b", "\xff", "модель/веса.bin", "a/./b", "././a",
		"...", "..a/b..", "a\x7f", "./a/", strings.Repeat("x", MaxNameLength+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CleanPath(in)
		if err != nil {
			if !errors.Is(err, errdef.ErrUnsafePath) {
				t.Fatalf("CleanPath(%q): error %v does not wrap errdef.ErrUnsafePath", in, err)
			}
			if out != "" {
				t.Fatalf("CleanPath(%q) returned %q with an error", in, out)
			}
			return
		}
		switch {
		case out == "" || out == ".":
			t.Fatalf("CleanPath(%q) = %q names the root", in, out)
		case path.IsAbs(out):
			t.Fatalf("CleanPath(%q) = %q is absolute", in, out)
		case path.Clean(out) != out:
			t.Fatalf("CleanPath(%q) = %q is not canonical (Clean gives %q)", in, out, path.Clean(out))
		case !utf8.ValidString(out):
			t.Fatalf("CleanPath(%q) = %q is not UTF-8", in, out)
		case strings.ContainsAny(out, "\x00\\"):
			t.Fatalf("CleanPath(%q) = %q has a NUL or backslash", in, out)
		case len(out) > MaxPathLength:
			t.Fatalf("CleanPath(%q) = %q is too long", in, out)
		}
		for _, elem := range strings.Split(out, "/") {
			if elem == ".." || elem == "." || elem == "" || len(elem) > MaxNameLength {
				t.Fatalf("CleanPath(%q) = %q has element %q", in, out, elem)
			}
		}
		again, err := CleanPath(out)
		if err != nil || again != out {
			t.Fatalf("CleanPath(%q) = %q, but CleanPath(%q) = %q, %v", in, out, out, again, err)
		}
	})
}
