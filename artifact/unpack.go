package artifact

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/fsx"
	"github.com/vessel-oci/vessel/internal/iox"
)

// tarReaders buffer tar layers' blob streams (64 KiB each), reused:
// a dataset has a thousand layers.
var tarReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 1<<16) }}

// tarOverhead allows for tar headers, PAX records and padding on top of
// the declared file sizes of a tar layer.
const tarOverhead = 1 << 20

// Unpacker writes the layers of a plan into a staging directory. Every write
// goes through an os.Root, so no path, however crafted, lands outside it;
// files are created exclusively, so no layer overwrites another's file.
// It is safe for concurrent use by one goroutine per layer.
type Unpacker struct {
	root *os.Root // nil: hash only, write nothing
	dir  string   // root's path, for hard links into it
	mu   sync.Mutex
	// createMu: one small tar entry is created at a time (writeEntry).
	createMu sync.Mutex
	// paths holds what tar layers claimed; raw paths were checked by the plan.
	paths *pathSet
	// tarFiles records the sha256 of every file a tar layer held, hashed as
	// it streamed (raw layers' files are their layer digests).
	tarFiles map[string]digest.Digest
	limits   Limits
	// include is the plan's selection (nil: write every tar entry).
	include selection
	// unsynced are the tar entries written without an fsync each (Sync
	// makes them durable together).
	unsynced []string
}

// NewUnpacker opens dir, an existing empty staging directory.
func NewUnpacker(dir string, p *Plan) (*Unpacker, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	u := NewHasher(p)
	u.root, u.dir = root, dir
	return u, nil
}

// NewHasher returns an Unpacker that checks layers and hashes the files of
// tar layers without writing anything (to sign a model's files from a
// registry in one streaming pass).
func NewHasher(p *Plan) *Unpacker {
	ps := newPathSet(p.folding)
	for _, e := range p.Entries {
		if e.Format == FormatRaw {
			ps.addFile(e.Path) // already known to be consistent
		}
	}
	for _, name := range p.unselected {
		ps.addFile(name) // the same duplicate rules as a full pull
	}
	return &Unpacker{paths: ps, tarFiles: map[string]digest.Digest{}, limits: p.limits, include: p.include}
}

// TarFiles returns the sha256 of each file unpacked from tar layers (of a
// selected plan: only the files written). It is the unpacker's own map,
// not a copy (100,000 files make it about 15 MB): call it once every
// layer is written, and do not change it.
func (u *Unpacker) TarFiles() map[string]digest.Digest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.tarFiles
}

// Sync makes the files of tar layers durable: one syncfs of the staging
// filesystem where the system has it, else an fsync of each. Raw layers'
// files were synced as they were written.
func (u *Unpacker) Sync() error {
	u.mu.Lock()
	names := u.unsynced
	u.unsynced = nil
	u.mu.Unlock()
	if u.root == nil || len(names) == 0 {
		return nil
	}
	if err := fsx.SyncFS(u.dir); !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	for _, name := range names {
		f, err := u.root.Open(name)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Close releases the staging directory handle.
func (u *Unpacker) Close() error {
	if u.root == nil {
		return nil
	}
	return u.root.Close()
}

// Write reads one layer's blob from r, checks it against the entry's digest
// and size as it streams, and writes its file or files. progress, if not
// nil, is told how many blob bytes were read.
func (u *Unpacker) Write(ctx context.Context, e Entry, r io.Reader, progress func(n int64)) error {
	vr := errdef.NewVerifyReader(&iox.ContextReader{Ctx: ctx, R: iox.Counting(r, progress)}, e.Layer)
	var err error
	if e.Format == FormatRaw {
		err = u.writeRaw(e, vr)
	} else {
		err = u.writeTar(e, vr)
	}
	if err != nil {
		return fmt.Errorf("%s (%s): %w", e.Path, e.Layer.Digest, err)
	}
	return nil
}

// LinkMinSize is the size from which Place hard-links a file rather than
// copying it. A link shares the file with the store and with every other
// pull of it, so an edit in place would change them all: small files
// (configs, templates: the ones people edit) are copied, which costs
// little; large ones (weights) are linked, which saves their size and the
// time to copy it.
const LinkMinSize = 1 << 20

// Place puts a raw layer's file in place from blob, a local copy of the
// layer that has already been checked against its digest (a content
// store's), open: by hard link to its name when it is large and would get
// the blob's permissions anyway, else by copy (in the kernel,
// copy_file_range) and fsync. A link is kept only if it is to the very
// file that was checked: a name swapped in the store since links
// something else, and the file is copied from blob instead.
func (u *Unpacker) Place(e Entry, blob *os.File) error {
	if e.Format != FormatRaw {
		return fmt.Errorf("%s: only a raw layer can be placed from its blob", e.Path)
	}
	if dir := path.Dir(e.Path); dir != "." {
		if err := u.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
	}
	fi, err := blob.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: stored blob %s is not a regular file", e.Path, errdef.ErrUnsafePath, blob.Name())
	}
	if fi.Size() >= LinkMinSize && fi.Mode().Perm() == e.Mode.Perm()&^processUmask() {
		// The staging directory is ours and holds no symlinks (tar layers
		// may not make them), so joining a checked path is safe here.
		dst := filepath.Join(u.dir, filepath.FromSlash(e.Path))
		if err := os.Link(blob.Name(), dst); err == nil {
			// link(2) links a symlink itself, and the name may now be
			// another file's.
			if got, err := os.Lstat(dst); err == nil && got.Mode().IsRegular() && os.SameFile(got, fi) {
				return nil
			}
			if err := os.Remove(dst); err != nil {
				return err
			}
		}
	}
	f, err := u.root.OpenFile(e.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.Mode)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	_, err = io.Copy(f, io.NewSectionReader(blob, 0, fi.Size()))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	return nil
}

// processUmask is the file creation mask, which a created file's mode has
// and a linked one must match. Read from /proc (Linux) because umask(2)
// can only be read by setting it, which races with other goroutines
// creating files; elsewhere 022 is assumed.
var processUmask = sync.OnceValue(func() fs.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return fs.FileMode(m)
				}
			}
		}
	}
	return 0o022
})

func (u *Unpacker) writeRaw(e Entry, vr *errdef.VerifyReader) error {
	if err := u.writeFile(e.Path, e.Mode, vr); err != nil {
		return err
	}
	return vr.Verify()
}

// writeFile creates a raw layer's file exclusively, copies r into it and
// fsyncs it (tar entries go through writeEntry).
func (u *Unpacker) writeFile(name string, mode fs.FileMode, r io.Reader) error {
	if u.root == nil {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	if dir := path.Dir(name); dir != "." {
		if err := u.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	buf := copyBuffers.Get().(*[]byte)
	_, err = io.CopyBuffer(&writeback{Writeback: fsx.Writeback{F: f}}, r, *buf)
	copyBuffers.Put(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (u *Unpacker) writeTar(e Entry, vr *errdef.VerifyReader) (err error) {
	src := &errTrap{r: vr}
	// Registered first so it runs after the decoders are closed.
	defer func() {
		if err != nil {
			err = tarFailure(err, src, vr)
		}
	}()
	br := tarReaders.Get().(*bufio.Reader)
	br.Reset(src)
	defer func() { br.Reset(nil); tarReaders.Put(br) }()
	var stream io.Reader = br
	var closeDec func()
	switch e.Format {
	case FormatTarGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: gzip: %v", ErrNotModel, err)
		}
		zr.Multistream(false)
		stream, closeDec = badData{zr}, func() { zr.Close() }
	case FormatTarZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return fmt.Errorf("%w: zstd: %v", ErrNotModel, err)
		}
		stream, closeDec = badData{zr}, zr.Close
	}
	if closeDec != nil {
		defer closeDec()
	}
	// Bound what the layer may unpack to before reading a byte of it.
	limit := e.Layer.Size
	if e.Format != FormatTar {
		if e.DeclaredSize >= 0 {
			limit = e.DeclaredSize + tarOverhead
		} else {
			limit = e.Layer.Size*u.limits.maxExpansion() + tarOverhead
		}
	}
	capped := &capReader{r: stream, left: limit}
	var diff digest.Digester
	var in io.Reader = capped
	if e.DiffID != "" && e.Format != FormatTar {
		diff = e.DiffID.Algorithm().Digester()
		in = io.TeeReader(capped, diff.Hash())
	}
	// A partial pull writes all of a tar layer whose path was selected,
	// else only its selected files (see Plan.Select).
	all := u.include == nil || u.include.matches(e.Path)
	if err := u.extract(in, e.Path, all); err != nil {
		return err
	}
	// Read what follows the tar's end marker, so both digests cover it all.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	if err := vr.Verify(); err != nil {
		return err
	}
	if diff != nil && diff.Digest() != e.DiffID {
		return fmt.Errorf("%w: uncompressed content is %s, config says %s", errdef.ErrDigestMismatch, diff.Digest(), e.DiffID)
	}
	return nil
}

// WriteRange writes the selected files of n bytes of e, an uncompressed
// tar layer, read from r: a span of whole entries fetched by range (see
// TarEntries), which cannot be checked against the layer's digest. Each
// file is checked as a tar entry is and hashed (TarFiles); the caller
// compares the hashes with the signed ones.
func (u *Unpacker) WriteRange(e Entry, r io.Reader, n int64) error {
	if e.Format != FormatTar {
		return fmt.Errorf("%s: ranges of a %s layer", e.Path, e.Layer.MediaType)
	}
	span := io.LimitReader(r, n)
	if err := u.extract(span, e.Path, false); err != nil {
		return err
	}
	// The span ends with an entry's padding: nothing may follow it.
	switch k, err := io.Copy(io.Discard, span); {
	case err != nil:
		return fmt.Errorf("%s: %w", e.Path, err)
	case k != 0:
		return fmt.Errorf("%w: %s: a range of %d bytes does not end with an entry", errdef.ErrSizeMismatch, e.Path, n)
	}
	return nil
}

// extract writes the regular files and directories of a tar stream, each
// of which must lie at or under the layer's annotated path within: a
// layer annotated "tokenizer" cannot hold "model.safetensors".
// Everything else (links, devices, fifos) is refused: a model has no use for
// them and they are how archives escape their directory. Unless all is
// set, only regular files the unpacker's selection matches are written;
// the others are checked the same way, then skipped (tar.Reader reads and
// discards their bodies, so the digests still cover them).
func (u *Unpacker) extract(r io.Reader, within string, all bool) error {
	tr := tar.NewReader(r)
	var dir entryDir
	defer dir.close()
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, errdef.ErrLimit) { // from capReader: too much, not malformed
				return err
			}
			return fmt.Errorf("%w: tar: %v", ErrNotModel, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := CleanPath(hdr.Name)
		if err != nil {
			return fmt.Errorf("tar entry: %w", err)
		}
		// At or under the layer's path; a directory may also be one of its
		// parents (tar writers add them), which creates nothing else.
		inside := within == RootPath || name == within || strings.HasPrefix(name, within+"/")
		parent := hdr.Typeflag == tar.TypeDir && strings.HasPrefix(within, name+"/")
		if !inside && !parent {
			return fmt.Errorf("%w: tar entry %q lies outside the layer's path %q", errdef.ErrUnsafePath, name, within)
		}
		// archive/tar presents a PAX sparse file as a regular one and makes
		// up its holes without reading input, so no cap on the stream would
		// bound what it writes.
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return fmt.Errorf("%w: tar entry %q is a sparse file", errdef.ErrUnsupportedEntry, name)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if !all {
				continue // parents of selected files are made as they are written
			}
			if err := u.claim(name, true); err != nil {
				return err
			}
			if u.root == nil {
				continue
			}
			if err := u.root.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA still appears in old archives.
			if hdr.Size < 0 {
				return fmt.Errorf("%w: tar entry %q declares size %d", errdef.ErrSizeMismatch, name, hdr.Size)
			}
			if !all && !u.include.matches(name) {
				continue
			}
			if err := u.claim(name, false); err != nil {
				return err
			}
			mode := fs.FileMode(hdr.Mode).Perm()
			if mode == 0 {
				mode = 0o644
			}
			h := sha256.New()
			if err := u.writeEntry(&dir, name, mode, io.TeeReader(badData{tr}, h), hdr.Size); err != nil {
				return fmt.Errorf("tar entry %q: %w", name, err)
			}
			u.mu.Lock()
			u.tarFiles[name] = digest.NewDigest(digest.SHA256, h)
			u.mu.Unlock()
		default:
			return fmt.Errorf("%w: tar entry %q has type %q (only regular files and directories are unpacked)", errdef.ErrUnsupportedEntry, name, hdr.Typeflag)
		}
	}
}

// entryDir is the directory the last tar entry went into, held open: a
// tar of small files lists a directory's files together, and opening each
// file through the staging root would walk its whole path every time.
type entryDir struct {
	name string
	root *os.Root
}

func (d *entryDir) close() {
	if d.root != nil {
		d.root.Close()
		d.root = nil
	}
}

// writeEntry writes a tar entry's file like writeFile, through d, without
// an fsync of its own (Sync makes all of them durable together).
func (u *Unpacker) writeEntry(d *entryDir, name string, mode fs.FileMode, r io.Reader, limit int64) error {
	r = io.LimitReader(r, limit)
	if u.root == nil {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	in := u.root
	if dir := path.Dir(name); dir != "." {
		if d.root == nil || d.name != dir {
			d.close()
			if err := u.root.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			sub, err := u.root.OpenRoot(dir)
			if err != nil {
				return err
			}
			d.name, d.root = dir, sub
		}
		in = d.root
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	var f *os.File
	var err error
	if limit <= int64(len(*buf)) {
		// A small file is read first and then created and written under
		// createMu: creating files in several directories at once made
		// the kernel spin on its own locks (a pull of 100,000 files spent
		// twice the system time with four layers at once as with one).
		data := (*buf)[:limit]
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		u.createMu.Lock()
		if f, err = in.OpenFile(path.Base(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode); err == nil {
			_, err = f.Write(data)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		u.createMu.Unlock()
	} else {
		if f, err = in.OpenFile(path.Base(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode); err != nil {
			return err
		}
		// Through a plain Writer: *os.File's ReadFrom would copy with a
		// new 32 KiB buffer per file, not this one.
		_, err = io.CopyBuffer(struct{ io.Writer }{f}, r, *buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		u.mu.Lock()
		u.unsynced = append(u.unsynced, name)
		u.mu.Unlock()
	}
	return err
}

func (u *Unpacker) claim(name string, dir bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if dir {
		return u.paths.addDir(name)
	}
	return u.paths.addFile(name)
}

// errTrap remembers the first error, other than io.EOF, of the blob stream
// under the decoders, which report it in their own words or not at all.
type errTrap struct {
	r   io.Reader
	err error
}

func (t *errTrap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// badData marks the errors of a decoder (gzip, zstd, tar) as ErrNotModel,
// so they are told apart from failures to write. errdef.ErrLimit, from the cap
// below, is a verdict already and passes unchanged.
type badData struct{ r io.Reader }

func (b badData) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, ErrNotModel) && !errors.Is(err, errdef.ErrLimit) {
		err = fmt.Errorf("%w: %w", ErrNotModel, err)
	}
	return n, err
}

// tarFailure picks the error to report for a tar layer that failed with err.
// If the blob stream itself failed (short, cancelled, cut off), that is
// the cause, whatever the decoders made of it. If the layer did not decode,
// the rest of the blob is read and checked: a tampered blob is a digest
// mismatch, not a malformed model.
func tarFailure(err error, src *errTrap, vr *errdef.VerifyReader) error {
	if src.err != nil {
		return src.err
	}
	if !errors.Is(err, ErrNotModel) {
		return err
	}
	if _, cerr := io.Copy(io.Discard, src); cerr != nil {
		return cerr
	}
	if verr := vr.Verify(); verr != nil {
		return verr
	}
	return err
}

// capReader fails, rather than stops, once more than left bytes come: a
// decompression bomb must be an error, not a silently truncated file.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w: layer unpacks to more than its declared size", errdef.ErrLimit)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// copyBuffers holds 1 MiB buffers: fewer, larger writes than io.Copy's 32 KiB.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writeback is a writer that hands what it wrote to disk writeback.
type writeback struct {
	fsx.Writeback
	off int64
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.F.Write(p)
	w.off += int64(n)
	w.Wrote(w.off)
	return n, err
}
