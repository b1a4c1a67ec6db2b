package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWriteFileReplacesAtomically(t *testing.T) {
	for _, d := range []Durability{Durable, Replaceable} {
		dir := t.TempDir()
		p := filepath.Join(dir, "record.json")
		if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(p, []byte("new"), 0o640, d); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != "new" {
			t.Errorf("durability %d: read %q, %v; want new", d, got, err)
		}
		if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o640 {
			t.Errorf("durability %d: mode %v, want 0640", d, fi.Mode().Perm())
		}
		if names, _ := os.ReadDir(dir); len(names) != 1 {
			t.Errorf("durability %d: left %v beside the file", d, names)
		}
	}
}

func TestWriteFileFailsWithoutItsDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing", "f")
	if err := WriteFile(p, nil, 0o644, Durable); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteFile into a missing directory: %v, want ErrNotExist", err)
	}
}

func TestCreateNewRefusesWhatExists(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	for _, p := range []string{target, link} {
		if err := CreateNew(p, []byte("x"), 0o644); !errors.Is(err, fs.ErrExist) {
			t.Errorf("CreateNew(%s) = %v, want ErrExist", filepath.Base(p), err)
		}
	}
	if got, _ := os.ReadFile(target); string(got) != "keep" {
		t.Errorf("target now %q", got)
	}
}

func TestExchange(t *testing.T) {
	for name, swap := range map[string]func(a, b string) error{"Exchange": Exchange, "fallback": swapByRename} {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		for p, content := range map[string]string{a: "new", b: "old"} {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, "f"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := swap(a, b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for p, want := range map[string]string{a: "old", b: "new"} {
			if got, _ := os.ReadFile(filepath.Join(p, "f")); string(got) != want {
				t.Errorf("%s: %s holds %q, want %q", name, filepath.Base(p), got, want)
			}
		}
		if names, _ := os.ReadDir(dir); len(names) != 2 {
			t.Errorf("%s: left %v", name, names)
		}
	}
}

func TestSameFilesystem(t *testing.T) {
	dir := t.TempDir()
	if !SameFilesystem(dir, filepath.Join(dir, "not", "yet")) {
		t.Error("a directory and a path not yet made under it: not the same filesystem")
	}
	if SameFilesystem(filepath.Join(dir, "missing"), dir) {
		t.Error("a missing store is on no filesystem")
	}
}

func TestTryLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	f1, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if ok, err := TryLock(f1); !ok || err != nil {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if ok, err := TryLock(f2); ok || err != nil {
		t.Fatalf("second lock on a held file: %v %v, want false, nil", ok, err)
	}
}

func TestIdentityAndLinks(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	id1, ok := IdentityOf(fi)
	if !ok && (runtime.GOOS == "linux" || runtime.GOOS == "darwin") {
		t.Fatal("no identity on a system that has one")
	}
	if !ok {
		return
	}
	if err := os.WriteFile(p, []byte("two!"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(p)
	if id2, _ := IdentityOf(fi); id2 == id1 {
		t.Error("identity unchanged by a rewrite")
	}
	if _, ok := IdentityOf(mustStat(t, dir)); ok {
		t.Error("a directory has a file identity")
	}
	if err := os.Link(p, filepath.Join(dir, "g")); err != nil {
		t.Fatal(err)
	}
	if n, ok := LinkCount(mustStat(t, p)); !ok || n != 2 {
		t.Errorf("link count %d %v, want 2", n, ok)
	}
}

func mustStat(t *testing.T, p string) fs.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	a, b, dest := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "dest")
	for _, p := range []string{a, b} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := RenameNoReplace(a, dest); err != nil {
		t.Fatal(err)
	}
	if err := RenameNoReplace(b, dest); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("rename onto an existing directory: %v, want ErrExist", err)
	}
	if _, err := os.Stat(b); err != nil {
		t.Errorf("the refused source is gone: %v", err)
	}
}
