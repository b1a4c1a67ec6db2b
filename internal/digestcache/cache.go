package digestcache

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/internal/fsx"
)

const (
	// FileName is the cache file inside the directory given to Open.
	FileName = "digests"
	// MaxEntries bounds the cache; Save drops the least recently used
	// entries beyond it. A dataset of 200,000 files fits.
	MaxEntries = 250_000
	// RacyWindow is how much older than the stat describing it a file's
	// last change must be for its digest to be stored. It covers file
	// systems with one- or two-second timestamps.
	RacyWindow = 2 * time.Second

	header = "vessel digest cache v1"
	// maxFileBytes caps what Open reads: MaxEntries of ordinary paths fit;
	// anything larger is not a file Save wrote.
	maxFileBytes = 128 << 20
	// refreshAfter: a hit marks its entry used again (and the cache dirty)
	// only when the last use is older than this, so a re-push of an
	// unchanged model does not rewrite the file every time.
	refreshAfter = time.Hour
)

// key is what identifies the content of a file without reading it.
type key = fsx.Identity

type entry struct {
	key
	digest digest.Digest
	used   int64 // Unix nanoseconds of the last store or hit
}

// Stamp is one file as one stat saw it, taken before the file is hashed.
type Stamp struct {
	path string
	key  key
	size int64
	at   time.Time // just before the stat
	ok   bool      // key is usable for caching
}

// Size is the file's size as the stat saw it.
func (s Stamp) Size() int64 { return s.size }

// Cache maps file stamps to sha256 digests. Its methods are safe for
// concurrent use; a nil *Cache is a valid cache that never hits and never
// stores.
type Cache struct {
	file string

	// Fixed after Open; tests change them.
	now   func() time.Time
	racy  time.Duration
	limit int

	mu      sync.Mutex
	entries map[string]entry
	dirty   bool
}

// Open loads the cache kept in dir. It never fails: a missing, unreadable
// or corrupt cache file gives an empty cache. An empty dir means no cache:
// Open returns nil.
func Open(dir string) *Cache {
	if dir == "" {
		return nil
	}
	c := &Cache{
		file:  filepath.Join(dir, FileName),
		now:   time.Now,
		racy:  RacyWindow,
		limit: MaxEntries,
	}
	c.entries, _ = load(c.file)
	if c.entries == nil {
		c.entries = map[string]entry{}
	}
	return c
}

// Stat describes the file at path for Lookup and Store. It follows
// symlinks, as reading the file does.
func (c *Cache) Stat(path string) (Stamp, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Stamp{}, err
	}
	now := time.Now
	if c != nil {
		now = c.now
	}
	at := now()
	fi, err := os.Stat(abs)
	if err != nil {
		return Stamp{}, err
	}
	k, ok := fsx.IdentityOf(fi)
	return Stamp{path: abs, key: k, size: fi.Size(), at: at, ok: ok}, nil
}

// Lookup returns the digest stored for a file with exactly this stamp.
func (c *Cache) Lookup(s Stamp) (digest.Digest, bool) {
	if c == nil || !s.ok {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[s.path]
	if !ok || e.key != s.key {
		return "", false
	}
	c.touch(s.path, e)
	return e.digest, true
}

// touch marks e, stored under name, used now when its last use is older
// than refreshAfter. c.mu is held.
func (c *Cache) touch(name string, e entry) {
	if now := c.now().UnixNano(); now-e.used > int64(refreshAfter) {
		e.used = now
		c.entries[name] = e
		c.dirty = true
	}
}

// Store records that the file stamped s, before it was read, has digest
// d. It keeps nothing for a file changed less than RacyWindow before s was
// taken, or for a digest that is not sha256.
func (c *Cache) Store(s Stamp, d digest.Digest) {
	if c == nil || !s.ok || d.Algorithm() != digest.SHA256 || d.Validate() != nil {
		return
	}
	// Also refuses timestamps in the future (a skewed clock).
	if newest := max(s.key.Mtime, s.key.Ctime); s.at.UnixNano()-newest < int64(c.racy) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[s.path] = entry{key: s.key, digest: d, used: c.now().UnixNano()}
	c.dirty = true
}

// derivedPrefix names an entry that is no file: the digest and size of
// bytes made only from other digests (a tar of files whose digests are
// known), keyed by a digest of those inputs. No absolute path starts so.
const derivedPrefix = "derived:"

// LookupDerived returns the digest and size stored for input.
func (c *Cache) LookupDerived(input digest.Digest) (digest.Digest, int64, bool) {
	if c == nil {
		return "", 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	name := derivedPrefix + input.String()
	e, ok := c.entries[name]
	if !ok {
		return "", 0, false
	}
	c.touch(name, e)
	return e.digest, e.Size, true
}

// StoreDerived records that the bytes made from input have digest d and
// size n.
func (c *Cache) StoreDerived(input, d digest.Digest, n int64) {
	if c == nil || d.Algorithm() != digest.SHA256 || d.Validate() != nil || input.Validate() != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[derivedPrefix+input.String()] = entry{key: key{Size: n}, digest: d, used: c.now().UnixNano()}
	c.dirty = true
}

// Save writes the cache back if it changed, merged with what the file
// holds now (another process may have saved since Open), keeping the
// MaxEntries most recently used. It replaces the file atomically.
func (c *Cache) Save() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	merged, _ := load(c.file)
	if merged == nil {
		merged = map[string]entry{}
	}
	for p, e := range c.entries {
		if old, ok := merged[p]; !ok || e.used >= old.used {
			merged[p] = e
		}
	}
	type pe struct {
		path string
		entry
	}
	all := make([]pe, 0, len(merged))
	for p, e := range merged {
		all = append(all, pe{p, e})
	}
	slices.SortFunc(all, func(a, b pe) int {
		return cmp.Or(cmp.Compare(b.used, a.used), strings.Compare(a.path, b.path))
	})
	if len(all) > c.limit {
		all = all[:c.limit]
	}

	err := os.MkdirAll(filepath.Dir(c.file), 0o700)
	if err == nil {
		err = fsx.WriteFileFunc(c.file, 0o600, fsx.Replaceable, func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 64<<10)
			bw.WriteString(header + "\n")
			for _, e := range all {
				fmt.Fprintf(bw, "%s %d %d %d %d %d %d %s\n", e.digest, e.Dev, e.Ino, e.Size, e.Mtime, e.Ctime, e.used, strconv.Quote(e.path))
			}
			return bw.Flush()
		})
	}
	if err != nil {
		return fmt.Errorf("save digest cache %s: %w", c.file, err)
	}
	c.entries = make(map[string]entry, len(all))
	for _, e := range all {
		c.entries[e.path] = e.entry
	}
	c.dirty = false
	return nil
}

var errCorrupt = errors.New("corrupt digest cache")

// load reads a cache file. Any flaw discards the whole file: a cache is
// worth nothing if it cannot be trusted line by line.
func load(name string) (map[string]entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxFileBytes+1))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	if !sc.Scan() || sc.Text() != header {
		return nil, errCorrupt
	}
	entries := map[string]entry{}
	var read int64 = int64(len(header)) + 1
	for sc.Scan() {
		line := sc.Text()
		read += int64(len(line)) + 1
		p, e, err := parseLine(line)
		if err != nil {
			return nil, err
		}
		entries[p] = e
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if read > maxFileBytes {
		return nil, errCorrupt
	}
	return entries, nil
}

func parseLine(line string) (string, entry, error) {
	f := strings.SplitN(line, " ", 8)
	if len(f) != 8 {
		return "", entry{}, errCorrupt
	}
	d, err := digest.Parse(f[0])
	if err != nil || d.Algorithm() != digest.SHA256 {
		return "", entry{}, errCorrupt
	}
	var e entry
	e.digest = d
	var errs [6]error
	e.Dev, errs[0] = strconv.ParseUint(f[1], 10, 64)
	e.Ino, errs[1] = strconv.ParseUint(f[2], 10, 64)
	e.Size, errs[2] = strconv.ParseInt(f[3], 10, 64)
	e.Mtime, errs[3] = strconv.ParseInt(f[4], 10, 64)
	e.Ctime, errs[4] = strconv.ParseInt(f[5], 10, 64)
	e.used, errs[5] = strconv.ParseInt(f[6], 10, 64)
	if errors.Join(errs[:]...) != nil {
		return "", entry{}, errCorrupt
	}
	p, err := strconv.Unquote(f[7])
	if err == nil && strings.HasPrefix(p, derivedPrefix) {
		_, err = digest.Parse(strings.TrimPrefix(p, derivedPrefix))
		return p, e, err
	}
	if err != nil || !filepath.IsAbs(p) {
		return "", entry{}, errCorrupt
	}
	return p, e, nil
}
