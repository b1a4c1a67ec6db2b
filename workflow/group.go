package workflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/internal/digestcache"
	"github.com/vessel-oci/vessel/internal/iox"
)

// tarGroup is a tar layer's digest and size and its files' digests, and
// for a small group the tar itself, kept from hashing for the upload.
type tarGroup struct {
	digest digest.Digest
	size   int64
	files  []digest.Digest
	data   *bytes.Buffer // nil: write the tar again to send it
}

// keptTarMax: a group whose tar is at most this is kept in memory
// between hashing and upload, so its files are read once; the hashers and
// the uploads in flight bound how many are kept at once.
const keptTarMax = 4 << 20

var tarBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// release returns a kept tar's memory.
func (g *tarGroup) release() {
	if g.data != nil {
		g.data.Reset()
		tarBuffers.Put(g.data)
		g.data = nil
	}
}

// hashGroup learns a group's tar digest and size and its files' digests:
// from the digest cache when every file is unchanged and the tar made of
// them is known, else by writing the tar once into a hash (reading each
// file once). Stamps are taken before reading, as hashFile does.
func hashGroup(ctx context.Context, u artifact.Unit, cache *digestcache.Cache, progress ProgressFunc) (tarGroup, error) {
	progress.emit(Event{Kind: EventStart, Phase: PhaseHash, Path: u.Path, Size: u.Size()})
	cached := make([]cachedFile, len(u.Files))
	files := make([]digest.Digest, len(u.Files))
	known := cache != nil
	for j, f := range u.Files {
		if cache == nil {
			break
		}
		cached[j] = lookupFile(cache, f)
		files[j] = cached[j].digest
		known = known && files[j] != ""
	}
	if known {
		if d, n, ok := cache.LookupDerived(groupInput(u, files)); ok {
			return tarGroup{digest: d, size: n, files: files}, nil
		}
	}
	h := sha256.New()
	var w io.Writer = h
	g := tarGroup{}
	if u.TarSize() <= keptTarMax {
		g.data = tarBuffers.Get().(*bytes.Buffer)
		w = io.MultiWriter(h, g.data)
	}
	n := &iox.CountingWriter{W: w, Progress: progress.bytes(PhaseHash, u.Path, "")}
	sums, err := artifact.WriteTar(ctx, n, u)
	if err != nil {
		g.release()
		return tarGroup{}, err
	}
	g.digest, g.size, g.files = digest.NewDigest(digest.SHA256, h), n.N, sums
	for j, d := range sums {
		cached[j].store(cache, d)
	}
	cache.StoreDerived(groupInput(u, sums), g.digest, g.size)
	return g, nil
}

// groupInput names what a group's tar bytes are made of: WriteTar's
// format, and each file's path, size, executable bit and digest.
func groupInput(u artifact.Unit, files []digest.Digest) digest.Digest {
	h := sha256.New()
	io.WriteString(h, "vessel tar v1\n")
	for j, f := range u.Files {
		fmt.Fprintf(h, "%s\x00%d\x00%t\x00%s\n", strconv.Quote(f.Path), f.Size, f.Mode&0o111 != 0, files[j])
	}
	return digest.NewDigest(digest.SHA256, h)
}

// uploadGroup uploads a group's tar unless the registry has it: the tar
// kept from hashing, else written again as it is sent (a file changed
// since it was hashed makes the registry refuse the digest, and the push
// fails).
func uploadGroup(ctx context.Context, repo Target, u artifact.Unit, g tarGroup, progress ProgressFunc) (ocispec.Descriptor, bool, error) {
	defer g.release()
	layer := artifact.TarLayer(u, g.digest, g.size)
	progress.emit(Event{Kind: EventStart, Phase: PhaseUpload, Path: u.Path, Digest: g.digest, Size: g.size})
	count := progress.bytes(PhaseUpload, u.Path, g.digest)
	sent, err := repo.PushBlob(ctx, layer, func() (io.ReadCloser, error) {
		if g.data != nil {
			return io.NopCloser(iox.Counting(bytes.NewReader(g.data.Bytes()), count)), nil
		}
		pr, pw := io.Pipe()
		go func() {
			_, err := artifact.WriteTar(ctx, &iox.CountingWriter{W: pw, Progress: count}, u)
			pw.CloseWithError(err)
		}()
		return pr, nil
	})
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("%s: %w", u.Path, err)
	}
	progress.emit(Event{Kind: EventDone, Phase: PhaseUpload, Path: u.Path, Digest: g.digest, Size: g.size, Skipped: !sent})
	return layer, sent, nil
}
