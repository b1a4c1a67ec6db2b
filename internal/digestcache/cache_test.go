package digestcache

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// writeAged writes a file and returns a cache whose clock runs far enough
// ahead that the file is not racily clean.
func writeAged(t *testing.T, dir, name, content string) (*Cache, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Open(filepath.Join(dir, "cache"))
	c.now = func() time.Time { return time.Now().Add(time.Minute) }
	return c, p
}

func stat(t *testing.T, c *Cache, p string) Stamp {
	t.Helper()
	s, err := c.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sha(s string) digest.Digest { return digest.FromString(s) }

func TestHitAfterSave(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, p := writeAged(t, dir, "f", "hello")
	if _, ok := c.Lookup(stat(t, c, p)); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Store(stat(t, c, p), sha("hello"))
	if d, ok := c.Lookup(stat(t, c, p)); !ok || d != sha("hello") {
		t.Fatalf("same process: %v %v", d, ok)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c2 := Open(filepath.Join(dir, "cache"))
	if d, ok := c2.Lookup(stat(t, c2, p)); !ok || d != sha("hello") {
		t.Fatalf("after reopen: %v %v", d, ok)
	}
	// Another path with the same content is another entry.
	if err := os.Link(p, filepath.Join(dir, "g")); err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.Lookup(stat(t, c2, filepath.Join(dir, "g"))); ok {
		t.Fatal("hit for a path never stored")
	}
}

// The case a stat cache must not get wrong: same size, same mtime (forced
// back), different bytes. Only ctime tells, and the digest must change.
func TestMissAfterSameSizeRewriteWithRestoredMtime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, p := writeAged(t, dir, "f", "aaaa")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	c.Store(stat(t, c, p), sha("aaaa"))
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	// Past the file system's timestamp granularity, as any later edit is.
	time.Sleep(50 * time.Millisecond)
	if err := os.WriteFile(p, []byte("bbbb"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("test setup: size/mtime not restored: %v %v", after.Size(), after.ModTime())
	}
	for name, cache := range map[string]*Cache{"same process": c, "reopened": Open(filepath.Join(dir, "cache"))} {
		if d, ok := cache.Lookup(stat(t, cache, p)); ok {
			t.Errorf("%s: rewritten file hit the cache with %s", name, d)
		}
	}
}

func TestRacilyCleanFileIsNotStored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("fresh"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Open(filepath.Join(dir, "cache")) // real clock: the file is seconds young
	s := stat(t, c, p)
	c.Store(s, sha("fresh"))
	if _, ok := c.Lookup(s); ok {
		t.Fatal("a file changed within RacyWindow of its stat was cached")
	}
}

func TestCorruptOrUnreadableCacheIsEmpty(t *testing.T) {
	t.Parallel()
	good := fmt.Sprintf("%s\n%s 1 2 3 4 5 6 %q\n", header, sha("x"), "/abs/f")
	for name, content := range map[string]string{
		"garbage":        "\x00\xff not a cache",
		"wrong header":   "vessel digest cache v0\n",
		"truncated line": good[:len(good)-10],
		"bad digest":     header + "\nsha256:zz 1 2 3 4 5 6 \"/abs/f\"\n",
		"md5 digest":     header + "\nmd5:d41d8cd98f00b204e9800998ecf8427e 1 2 3 4 5 6 \"/abs/f\"\n",
		"relative path":  fmt.Sprintf("%s\n%s 1 2 3 4 5 6 %q\n", header, sha("x"), "rel/f"),
		"bad number":     fmt.Sprintf("%s\n%s 1 two 3 4 5 6 %q\n", header, sha("x"), "/abs/f"),
		"overlong line":  header + "\n" + string(bytes.Repeat([]byte("a"), 2<<20)) + "\n",
		"empty":          "",
		"a directory":    "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, FileName)
			if name == "a directory" {
				if err := os.Mkdir(file, 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			c := Open(dir)
			if c == nil || len(c.entries) != 0 {
				t.Fatalf("entries from a corrupt file: %v", c)
			}
			// Still usable: stores work and, where possible, replace the file.
			p := filepath.Join(dir, "f")
			os.WriteFile(p, []byte("x"), 0o644)
			c.now = func() time.Time { return time.Now().Add(time.Minute) }
			c.Store(stat(t, c, p), sha("x"))
			if _, ok := c.Lookup(stat(t, c, p)); !ok {
				t.Fatal("no hit after store")
			}
			err := c.Save()
			if name == "a directory" {
				if err == nil {
					t.Fatal("Save over a directory succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c2 := Open(dir); len(c2.entries) != 1 {
				t.Fatalf("after save: %d entries", len(c2.entries))
			}
		})
	}
	// The good file parses, so the cases above fail for their flaw.
	if _, _, err := parseLine(good[len(header)+1 : len(good)-1]); err != nil {
		t.Fatal(err)
	}
}

func TestSaveIsAtomicAndLeavesNoTemporaries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cdir := filepath.Join(dir, "cache")
	var files []string
	for i := range 20 {
		p := filepath.Join(dir, fmt.Sprint(i))
		os.WriteFile(p, []byte(fmt.Sprint(i)), 0o644)
		files = append(files, p)
	}
	// Writers in parallel, each with its own Cache as separate processes
	// would have, while a reader checks every version it sees is whole.
	stop := make(chan struct{})
	readerDone := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				readerDone <- nil
				return
			default:
			}
			if _, err := load(filepath.Join(cdir, FileName)); err != nil && !os.IsNotExist(err) {
				readerDone <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for i, p := range files {
		wg.Go(func() {
			c := Open(cdir)
			c.now = func() time.Time { return time.Now().Add(time.Minute) }
			c.Store(stat(t, c, p), sha(fmt.Sprint(i)))
			if err := c.Save(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-readerDone; err != nil {
		t.Fatalf("reader saw a torn file: %v", err)
	}
	names, err := os.ReadDir(cdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0].Name() != FileName {
		t.Fatalf("cache dir holds %v", names)
	}
	if c := Open(cdir); len(c.entries) == 0 || len(c.entries) > len(files) {
		t.Fatalf("%d entries", len(c.entries))
	}
}

func TestSizeBoundDropsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cdir := filepath.Join(dir, "cache")
	c := Open(cdir)
	c.limit = 3
	clock := time.Now().Add(time.Minute)
	c.now = func() time.Time { return clock }
	var stamps []Stamp
	for i := range 5 {
		p := filepath.Join(dir, fmt.Sprint(i))
		os.WriteFile(p, []byte(fmt.Sprint(i)), 0o644)
		clock = clock.Add(2 * refreshAfter)
		s := stat(t, c, p)
		c.Store(s, sha(fmt.Sprint(i)))
		stamps = append(stamps, s)
	}
	// Using file 0 again makes it the most recent.
	clock = clock.Add(2 * refreshAfter)
	if _, ok := c.Lookup(stamps[0]); !ok {
		t.Fatal("miss")
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c2 := Open(cdir)
	if len(c2.entries) != 3 {
		t.Fatalf("%d entries, want 3", len(c2.entries))
	}
	for i, want := range []bool{true, false, false, true, true} {
		if _, ok := c2.Lookup(stamps[i]); ok != want {
			t.Errorf("file %d: hit %v, want %v", i, ok, want)
		}
	}
}

func TestNilCacheIsDisabled(t *testing.T) {
	t.Parallel()
	var c *Cache
	if Open("") != nil {
		t.Fatal("Open(\"\") is not the disabled cache")
	}
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("x"), 0o644)
	s, err := c.Stat(p)
	if err != nil || s.Size() != 1 {
		t.Fatalf("stat: %v %v", s, err)
	}
	c.Store(s, sha("x"))
	if _, ok := c.Lookup(s); ok {
		t.Fatal("nil cache hit")
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
}

// A derived digest (a tar of files with known digests) survives a save
// and is looked up by its input alone; a corrupt input name discards the
// file as any other flaw does.
func TestDerivedAfterSave(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, d := digest.FromString("inputs"), digest.FromString("tar bytes")
	c := Open(dir)
	if _, _, ok := c.LookupDerived(in); ok {
		t.Fatal("hit in an empty cache")
	}
	c.StoreDerived(in, d, 12345)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	got, n, ok := Open(dir).LookupDerived(in)
	if !ok || got != d || n != 12345 {
		t.Fatalf("LookupDerived = %s, %d, %v", got, n, ok)
	}
	if _, _, ok := Open(dir).LookupDerived(digest.FromString("other inputs")); ok {
		t.Fatal("hit for other inputs")
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "derived:sha256:", "derived:sha256:zz", 1)
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := Open(dir).LookupDerived(in); ok {
		t.Fatal("a corrupt entry was read")
	}
}
