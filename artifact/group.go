package artifact

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/internal/iox"
)

// GroupOptions say when small files travel together in tar layers: a
// registry cannot carry a dataset as one layer per file (manifests are
// capped at 4 MiB; pulls at 10,000 layers), and a request per 3 KiB file
// is slow.
type GroupOptions struct {
	// Under: files smaller than this are grouped; <= 0 means 1 MiB.
	Under int64
	// Target: a group's tar is kept under this many bytes (files, headers
	// and padding); <= 0 means 64 MiB.
	Target int64
	// MinFiles: grouping applies only when at least this many files are
	// small (a model's few small JSON files stay raw layers, one file
	// each, as other ModelPack tools write them); 0 means 256, < 0 never
	// groups.
	MinFiles int
	// MaxLayers: more layers than this and files are grouped by shallower
	// directories; <= 0 means 2,000 (a manifest of about 800 KB, where
	// registries take 4 MiB and pulls 10,000 layers).
	MaxLayers int
}

func (o GroupOptions) maxLayers() int {
	if o.MaxLayers <= 0 {
		return 2000
	}
	return o.MaxLayers
}

func (o GroupOptions) under() int64 {
	if o.Under <= 0 {
		return 1 << 20
	}
	return o.Under
}

func (o GroupOptions) target() int64 {
	if o.Target <= 0 {
		return 64 << 20
	}
	return o.Target
}

// Unit is one layer to be: a single file (a raw layer) or a group of small
// files of one directory and one media type (an uncompressed tar layer,
// annotated with the directory; "." for the model's root).
type Unit struct {
	Path      string
	MediaType string
	Files     []File
	Tar       bool
}

// Size is the sum of the unit's file sizes.
func (u Unit) Size() int64 {
	var n int64
	for _, f := range u.Files {
		n += f.Size
	}
	return n
}

// TarSize is about what the unit's tar takes: each file's 512-byte header
// and its data padded to 512 bytes, and the end marker (long names' PAX
// records add a little).
func (u Unit) TarSize() int64 {
	n := int64(1024)
	for _, f := range u.Files {
		n += tarEntrySize(f.Size)
	}
	return n
}

func tarEntrySize(size int64) int64 { return 512 + (size+511)/512*512 }

// Units arranges scanned files (in Scan's sorted order) into layers. The
// arrangement depends only on the paths, sizes and media types, so the
// same directory gives the same layers on any machine, and a change in
// one directory changes only that directory's groups. Where one group per
// directory would make more than opts.MaxLayers layers, files are
// grouped by a shallower ancestor directory, down to the root.
func Units(files []File, opts GroupOptions) []Unit {
	small := 0
	depth := 0
	for _, f := range files {
		if groupable(f, opts) {
			small++
			depth = max(depth, strings.Count(f.Path, "/"))
		}
	}
	minFiles := opts.MinFiles
	if minFiles == 0 {
		minFiles = 256
	}
	grouping := minFiles > 0 && small >= minFiles
	for {
		units := arrange(files, opts, grouping, depth)
		if !grouping || depth == 0 || len(units) <= opts.maxLayers() {
			return units
		}
		depth--
	}
}

// arrange makes the layers, grouping small files by their directory's
// first depth elements.
func arrange(files []File, opts GroupOptions, grouping bool, depth int) []Unit {
	var units []Unit
	type group struct {
		i    int
		size int64
	}
	open := map[string]*group{} // dir + media type -> its open group
	for _, f := range files {
		if !grouping || !groupable(f, opts) {
			units = append(units, Unit{Path: f.Path, MediaType: f.MediaType, Files: []File{f}})
			continue
		}
		dir := ancestor(path.Dir(f.Path), depth)
		key := dir + "\x00" + f.MediaType
		g := open[key]
		if g == nil || g.size+tarEntrySize(f.Size) > opts.target() {
			units = append(units, Unit{Path: dir, MediaType: TarMediaType(f.MediaType), Tar: true})
			g = &group{i: len(units) - 1}
			open[key] = g
		}
		units[g.i].Files = append(units[g.i].Files, f)
		g.size += tarEntrySize(f.Size)
	}
	return units
}

// ancestor is dir cut to its first depth elements ("." when depth is 0).
func ancestor(dir string, depth int) string {
	if dir == RootPath {
		return dir
	}
	if depth == 0 {
		return RootPath
	}
	elems := strings.SplitN(dir, "/", depth+1)
	if len(elems) <= depth {
		return dir
	}
	return strings.Join(elems[:depth], "/")
}

// groupable: small, and of a ModelPack raw type that has a tar twin.
func groupable(f File, opts GroupOptions) bool {
	return f.Size < opts.under() && strings.HasPrefix(f.MediaType, "application/vnd.cncf.model.") && strings.HasSuffix(f.MediaType, ".v1.raw")
}

// TarMediaType is the ModelPack tar media type of a raw one.
func TarMediaType(raw string) string {
	return strings.TrimSuffix(raw, ".raw") + ".tar"
}

// tarEpoch is every entry's modification time: packing is reproducible.
var tarEpoch = time.Unix(0, 0)

// WriteTar writes u's files to w as a deterministic tar: entries in the
// unit's (sorted) order, regular files only (the unpacker makes parents),
// mode 0644 or 0755, no owner, the epoch as time. It returns each file's
// sha256, computed in the same pass, and fails if a file's size changed
// since it was scanned.
func WriteTar(ctx context.Context, w io.Writer, u Unit) ([]digest.Digest, error) {
	tw := tar.NewWriter(w)
	sums := make([]digest.Digest, len(u.Files))
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	for i, f := range u.Files {
		if err := tw.WriteHeader(tarHeader(f)); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Path, err)
		}
		fh, err := os.Open(f.Source)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.CopyBuffer(io.MultiWriter(tw, h), &iox.ContextReader{Ctx: ctx, R: io.LimitReader(fh, f.Size+1)}, *buf)
		fh.Close()
		if err == nil && n != f.Size {
			err = fmt.Errorf("file changed while packing (size %d, now %d)", f.Size, n)
		}
		if err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Path, err)
		}
		sums[i] = digest.NewDigest(digest.SHA256, h)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar %s: %w", u.Path, err)
	}
	return sums, nil
}

// tarHeader is f's header in a tar vessel writes.
func tarHeader(f File) *tar.Header {
	mode := int64(0o644)
	if f.Mode&0o111 != 0 {
		mode = 0o755
	}
	return &tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Size: f.Size, Mode: mode, ModTime: tarEpoch}
}

// TarLayer returns the descriptor of the tar layer that carries u, whose
// bytes have digest d and size n.
func TarLayer(u Unit, d digest.Digest, n int64) ocispec.Descriptor {
	meta, _ := json.Marshal(modelspec.FileMetadata{
		Name:     path.Base(u.Path),
		Mode:     0o755,
		Typeflag: '5', // tar.TypeDir: the layer holds files of a directory
	})
	return ocispec.Descriptor{
		MediaType:   u.MediaType,
		Digest:      d,
		Size:        n,
		Annotations: pathAnnotations(u.Path, string(meta)),
	}
}

// TarEntry locates one file in a tar layer vessel wrote: its header starts
// at Header, its data at Data, and it holds Size bytes.
type TarEntry struct {
	Path   string `json:"path"`
	Header int64  `json:"header"`
	Data   int64  `json:"data"`
	Size   int64  `json:"size"`
}

// End is where the entry's data ends, padded to the tar block size: the
// next entry's header, or the end marker.
func (e TarEntry) End() int64 { return e.Data + (e.Size+511)/512*512 }

// TarEntries locates u's files in the tar WriteTar makes of it, from the
// paths, sizes and modes alone (no file is read): each header is what
// archive/tar writes for it on its own, since WriteTar's entries carry
// no state from one to the next. A partial pull fetches entries by HTTP
// range with it.
func TarEntries(u Unit) ([]TarEntry, error) {
	entries := make([]TarEntry, len(u.Files))
	var off int64
	var cw countingWriter
	for i, f := range u.Files {
		cw.n = 0
		tw := tar.NewWriter(&cw)
		if err := tw.WriteHeader(tarHeader(f)); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Path, err)
		}
		entries[i] = TarEntry{Path: f.Path, Header: off, Data: off + cw.n, Size: f.Size}
		off = entries[i].End()
	}
	return entries, nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
