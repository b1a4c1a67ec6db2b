package workflow

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/internal/digestcache"
	"github.com/vessel-oci/vessel/oms"
)

// DefaultConcurrency is how many files move at once when an option is <= 0.
const DefaultConcurrency = 4

// PushOptions configure Push. The zero value packs every file with its
// default media type, moves DefaultConcurrency files at once and hashes
// every file.
type PushOptions struct {
	Scan        artifact.ScanOptions
	Info        artifact.Info
	Annotations map[string]string
	// Concurrency <= 0 means DefaultConcurrency.
	Concurrency int
	Progress    ProgressFunc
	// Group says when small files travel together in tar layers.
	Group artifact.GroupOptions
	// Signed: the push is to be signed (SignPushed), so a model with more
	// files than an OpenSSF model signature can list is refused before any
	// byte moves.
	Signed bool
	// DigestCache is a directory where the digests of files are remembered
	// between pushes, keyed by path, device, inode, size, mtime and ctime,
	// so that an unchanged file is not read again (no PhaseHash bytes). A
	// cache that cannot be read or written is ignored. Empty means none.
	DigestCache string
}

// PushResult is what a push produced.
type PushResult struct {
	// Reference names the pushed manifest by digest.
	Reference string        `json:"reference"`
	Tag       string        `json:"tag,omitempty"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	Files     []File        `json:"files"`
	// BytesSent counts blob bytes actually uploaded; blobs the registry
	// already had are not sent again.
	BytesSent int64 `json:"bytesSent"`
	// Warnings are what went wrong without failing the push.
	Warnings []string `json:"warnings,omitempty"`
}

// Push packs dir as a ModelPack artifact and uploads it to repo, hashing
// and uploading in a pipeline. The manifest, and with it the tag, goes
// last: a failed push never leaves a tag on an incomplete artifact.
func Push(ctx context.Context, repo Target, dir string, opts PushOptions) (*PushResult, error) {
	scan := opts.Scan
	if opts.Signed {
		// Refused as soon as the files found so far are too many to sign,
		// not after listing a million of them.
		scan.Limit = func(files int, names int64) error {
			if n := oms.MinBundleSize(files, names); n > oms.MaxBundleSize {
				return fmt.Errorf("%w: more than %d files: their OpenSSF model signature would be over the %d bytes its readers accept (oms.MaxBundleSize): push sub-directories as models of their own",
					ErrTooLarge, files-1, int64(oms.MaxBundleSize))
			}
			return nil
		}
	}
	files, err := artifact.Scan(dir, scan)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("push %s: %w: no files to pack", dir, artifact.ErrNotModel)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	opts.Progress.emit(Event{Kind: EventPlan, Size: total})
	units := artifact.Units(files, opts.Group)
	if len(units) > artifact.DefaultMaxLayers {
		return nil, fmt.Errorf("push %s: %w: %d files make %d layers, more than the %d a pull accepts: let more files travel together (push --group-under, --group-size, --group-min-files)",
			dir, ErrTooLarge, len(files), len(units), artifact.DefaultMaxLayers)
	}
	layers := make([]ocispec.Descriptor, len(units))
	sent := make([]bool, len(units))
	grouped := make([][]digest.Digest, len(units)) // each tar unit's files' digests
	cache := digestcache.Open(opts.DigestCache)
	// Two stages: hashing, one unit per CPU, hands each unit to the upload
	// stage as soon as its digest is known, so uploads of early files
	// overlap hashing of later ones; one per CPU, since fewer leave a core
	// idle while the first file is hashed and the last one sent. A hasher
	// waits for an upload slot, which bounds the units in flight.
	uploads, uctx := errgroup.WithContext(ctx)
	uploads.SetLimit(concurrency(opts.Concurrency))
	hashes, hctx := errgroup.WithContext(uctx)
	hashes.SetLimit(runtime.GOMAXPROCS(0))
	for i, u := range units {
		hashes.Go(func() error {
			if u.Tar {
				g, err := hashGroup(hctx, u, cache, opts.Progress)
				if err != nil {
					return err
				}
				grouped[i] = g.files
				uploads.Go(func() error {
					l, s, err := uploadGroup(uctx, repo, u, g, opts.Progress)
					layers[i], sent[i] = l, s
					return err
				})
				return nil
			}
			f := u.Files[0]
			d, err := hashFile(hctx, f, cache, opts.Progress)
			if err != nil {
				return err
			}
			uploads.Go(func() error {
				l, s, err := uploadFile(uctx, repo, f, d, opts.Progress)
				layers[i], sent[i] = l, s
				return err
			})
			return nil
		})
	}
	err = hashes.Wait()
	if uerr := uploads.Wait(); err == nil {
		err = uerr
	}
	// The digests learnt are right even if the push failed; a cache that
	// cannot be saved only costs the next push its speed.
	_ = cache.Save()
	if err != nil {
		return nil, fmt.Errorf("push %s to %s: %w", dir, repo.Reference(), err)
	}

	config, configDesc, err := artifact.Config(dir, layers, opts.Info)
	if err != nil {
		return nil, fmt.Errorf("push %s: config: %w", dir, err)
	}
	if _, err := repo.PushBlob(ctx, configDesc, bytesOpener(config)); err != nil {
		return nil, fmt.Errorf("push %s to %s: config: %w", dir, repo.Reference(), err)
	}
	manifest, desc, err := artifact.Manifest(configDesc, layers, opts.Annotations)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", dir, err)
	}
	if len(manifest) > artifact.MaxManifestSize {
		return nil, fmt.Errorf("push %s: %w: %d layers make a manifest of %d bytes; registries take manifests up to %d bytes: let more files travel together (push --group-under, --group-size)",
			dir, ErrTooLarge, len(layers), len(manifest), artifact.MaxManifestSize)
	}
	if err := repo.PushManifest(ctx, desc, manifest, repo.Reference().Tag); err != nil {
		return nil, fmt.Errorf("push %s to %s: %w", dir, repo.Reference(), err)
	}
	// Only partial pulls use it, and they read whole layers without it:
	// a failure here does not fail the push.
	indexErr := attachTarIndex(ctx, repo, desc, units, layers)

	res := &PushResult{
		Reference: repo.Reference().WithDigest(desc.Digest).String(),
		Tag:       repo.Reference().Tag,
		Digest:    desc.Digest,
		Size:      desc.Size,
	}
	if indexErr != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the tar index was not stored (partial pulls will read whole layers): %v", indexErr))
	}
	for i, l := range layers {
		if sent[i] {
			res.BytesSent += l.Size
		}
		if !units[i].Tar {
			res.Files = append(res.Files, File{Path: units[i].Path, Digest: l.Digest, Size: l.Size, MediaType: l.MediaType, Sent: sent[i]})
			continue
		}
		for j, f := range units[i].Files {
			res.Files = append(res.Files, File{Path: f.Path, Digest: grouped[i][j], Size: f.Size, MediaType: l.MediaType, Sent: sent[i], Layer: l.Digest})
		}
	}
	return res, nil
}

// uploadFile uploads one hashed file unless the registry has it.
func uploadFile(ctx context.Context, repo Target, f artifact.File, d digest.Digest, progress ProgressFunc) (ocispec.Descriptor, bool, error) {
	layer := artifact.Layer(f, d)
	progress.emit(Event{Kind: EventStart, Phase: PhaseUpload, Path: f.Path, Digest: d, Size: f.Size})
	watch := offsetWatch{count: progress.bytes(PhaseUpload, f.Path, d), stop: make(chan struct{})}
	sent, err := repo.PushBlob(ctx, layer, func() (io.ReadCloser, error) {
		fh, err := os.Open(f.Source)
		if err != nil {
			return nil, err
		}
		watch.start(fh)
		// The bare *os.File, unwrapped: net/http then sends it with
		// sendfile(2), sparing a copy into and out of vessel for every byte.
		// A cancelled push ends the request, which ends the send.
		return fh, nil
	})
	watch.end()
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("%s: %w", f.Path, err)
	}
	progress.emit(Event{Kind: EventDone, Phase: PhaseUpload, Path: f.Path, Digest: d, Size: f.Size, Skipped: !sent})
	return layer, sent, nil
}

// offsetWatch reports upload progress from the file offset, which the
// kernel advances as sendfile(2) sends; no reader wrapper sees the bytes.
type offsetWatch struct {
	count func(int64)
	stop  chan struct{}
	wg    sync.WaitGroup
}

// progressTick is how often an upload's file offset is sampled.
const progressTick = 100 * time.Millisecond

func (w *offsetWatch) start(fh *os.File) {
	if w.count == nil {
		return
	}
	w.wg.Go(func() {
		t := time.NewTicker(progressTick)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			if !w.sample(fh, &last) {
				return
			}
		}
	})
}

// sample reports how far fh's offset moved past last: bytes a resumed
// upload skips count as done, bytes a retry sends again count again.
// False once fh is closed (the transport closes a body it has sent).
func (w *offsetWatch) sample(fh *os.File, last *int64) bool {
	off, err := fh.Seek(0, io.SeekCurrent)
	if err != nil {
		return false
	}
	if off > *last {
		w.count(off - *last)
	}
	*last = off
	return true
}

// end stops the samplers; none reports after it returns.
func (w *offsetWatch) end() {
	close(w.stop)
	w.wg.Wait()
}

// hashFile returns the digest of f from the cache when the file is
// unchanged since it was cached, and otherwise reads it, caching the result
// under the stat taken before reading: a file changed while being read
// then no longer matches what was stored.
func hashFile(ctx context.Context, f artifact.File, cache *digestcache.Cache, progress ProgressFunc) (digest.Digest, error) {
	progress.emit(Event{Kind: EventStart, Phase: PhaseHash, Path: f.Path, Size: f.Size})
	c := lookupFile(cache, f)
	if c.digest != "" {
		return c.digest, nil
	}
	d, err := artifact.HashFile(ctx, f, progress.bytes(PhaseHash, f.Path, ""))
	if err != nil {
		return "", err
	}
	c.store(cache, d)
	return d, nil
}

// cachedFile is a file as the digest cache saw it before it was read:
// its stamp, whether the digest may be stored under it, and the digest
// when the cache knows the file unchanged.
type cachedFile struct {
	stamp  digestcache.Stamp
	usable bool
	digest digest.Digest // "" unless cached
}

// lookupFile stats f for the cache. A size other than the scanned one
// would put a wrong size next to the cached digest: such a file is left
// to the reader, which reports it.
func lookupFile(cache *digestcache.Cache, f artifact.File) cachedFile {
	if cache == nil {
		return cachedFile{}
	}
	s, err := cache.Stat(f.Source)
	c := cachedFile{stamp: s, usable: err == nil && s.Size() == f.Size}
	if c.usable {
		c.digest, _ = cache.Lookup(s)
	}
	return c
}

// store remembers d for the file, if its stamp allows.
func (c cachedFile) store(cache *digestcache.Cache, d digest.Digest) {
	if c.usable {
		cache.Store(c.stamp, d)
	}
}

func concurrency(n int) int {
	if n <= 0 {
		return DefaultConcurrency
	}
	return n
}
