package workflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/workflow"
)

// rangeRegistry serves a registry and records its blob GETs; it can
// ignore Range headers, corrupt ranged responses, and refuse to store tar
// indexes.
type rangeRegistry struct {
	mu                    sync.Mutex
	whole, ranged         map[string]int // GETs per blob digest
	rangedBytes           int64
	ignoreRanges, corrupt bool
	refuseIndex           bool
}

func (g *rangeRegistry) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		ignore, corrupt, refuse := g.ignoreRanges, g.corrupt, g.refuseIndex
		g.mu.Unlock()
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && refuse {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(artifact.TarIndexArtifactType)) {
				http.Error(w, "no", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		_, d, isBlob := strings.Cut(r.URL.Path, "/blobs/")
		if r.Method != http.MethodGet || !isBlob {
			next.ServeHTTP(w, r)
			return
		}
		if ignore {
			r.Header.Del("Range")
		}
		g.mu.Lock()
		if r.Header.Get("Range") != "" {
			g.ranged[d]++
		} else {
			g.whole[d]++
		}
		g.mu.Unlock()
		if r.Header.Get("Range") == "" {
			next.ServeHTTP(w, r)
			return
		}
		rec := &capture{header: http.Header{}}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if corrupt && len(body) > 1024 {
			body[len(body)-600] ^= 0x20 // in the last entry's data
		}
		g.mu.Lock()
		g.rangedBytes += int64(len(body))
		g.mu.Unlock()
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		w.Write(body)
	})
}

func (g *rangeRegistry) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.whole, g.ranged, g.rangedBytes = map[string]int{}, map[string]int{}, 0
}

func (g *rangeRegistry) set(f func(*rangeRegistry)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header         { return c.header }
func (c *capture) Write(b []byte) (int, error) { return c.body.Write(b) }
func (c *capture) WriteHeader(s int)           { c.status = s }

// classes writes a dataset of n classes of per files each (one tar group
// per class) and returns it.
func classes(t *testing.T, n, per int) (string, map[string]string) {
	files := map[string]string{}
	for c := range n {
		for f := range per {
			files[fmt.Sprintf("train/c%d/%03d.txt", c, f)] = strings.Repeat(fmt.Sprintf("sample %d of class %d\n", f, c), 40)
		}
	}
	dir := filepath.Join(t.TempDir(), "data")
	testutil.WriteTree(t, dir, files)
	return dir, files
}

// A partial pull of a signed dataset fetches just the selected files of
// its tar groups, by range, and checks each against the signature: the
// files land, the groups are never read whole, a corrupted entry is
// refused naming the file, and a registry that ignores ranges gets the
// whole layer read instead.
func TestPartialPullByRange(t *testing.T) {
	ctx := context.Background()
	reg := &rangeRegistry{}
	reg.reset()
	host := testutil.Registry(t, testutil.Olareg, reg.wrap)
	release := newKey(t, "release")
	src, content := classes(t, 3, 300)
	ref := host + "/data/ds:v1"
	pushed, err := workflow.Push(ctx, open(t, ref), src, workflow.PushOptions{Scan: artifact.ScanOptions{Dataset: true}, Signed: true})
	if err != nil || len(pushed.Warnings) != 0 {
		t.Fatalf("push: %v %v", err, pushed)
	}
	if _, err := workflow.SignPushed(ctx, open(t, host+"/data/ds@"+pushed.Digest.String()), release.signer, pushed); err != nil {
		t.Fatal(err)
	}
	groupOf := map[string]digest.Digest{}
	var group1 digest.Digest
	for _, f := range pushed.Files {
		groupOf[f.Path] = f.Layer
		if strings.HasPrefix(f.Path, "train/c1/") {
			group1 = f.Layer
		}
	}
	pull := func(include ...string) (string, *workflow.PullResult, error) {
		t.Helper()
		dest := filepath.Join(t.TempDir(), "data")
		res, err := workflow.Pull(ctx, open(t, ref), dest, workflow.PullOptions{Include: include, Policy: keyPolicy(release)})
		return dest, res, err
	}

	reg.reset()
	dest, res, err := pull("train/c1/01*.txt", "train/c1/299.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.RangedLayers, []string{"train/c1"}) {
		t.Fatalf("ranged layers %q, want train/c1", res.RangedLayers)
	}
	var want []string
	for name := range content {
		if m, _ := filepath.Match("train/c1/01*.txt", name); m || name == "train/c1/299.txt" {
			want = append(want, name)
		}
	}
	slices.Sort(want)
	if got := files(t, dest); !slices.Equal(got, want) {
		t.Fatalf("wrote %q, want %q", got, want)
	}
	for _, name := range want {
		if testutil.HashTree(t, dest)[name] != digest.FromString(content[name]).Encoded() {
			t.Fatalf("%s differs", name)
		}
	}
	reg.mu.Lock()
	wholeGets, rangedGets, rangedBytes := reg.whole[group1.String()], reg.ranged[group1.String()], reg.rangedBytes
	reg.mu.Unlock()
	if wholeGets != 0 || rangedGets != 2 || rangedBytes > 32<<10 {
		t.Fatalf("the group of train/c1 was fetched whole %d times, by %d ranges of %d bytes in all; want 0, 2 ranges (the ten neighbours, the last file)", wholeGets, rangedGets, rangedBytes)
	}

	// A corrupted entry in a range: refused, naming a file, nothing written.
	reg.set(func(g *rangeRegistry) { g.corrupt = true })
	dest, _, err = pull("train/c2/00*.txt")
	if !errors.Is(err, errdef.ErrModelMismatch) || !strings.Contains(err.Error(), "train/c2/00") {
		t.Fatalf("corrupted range: %v", err)
	}
	if got := testutil.Entries(t, filepath.Dir(dest)); len(got) != 0 {
		t.Fatalf("a refused pull left %v", got)
	}
	reg.set(func(g *rangeRegistry) { g.corrupt = false; g.ignoreRanges = true })

	// No ranges served: the whole layer is read, and checked.
	reg.reset()
	reg.set(func(g *rangeRegistry) { g.ignoreRanges = true })
	dest, res, err = pull("train/c0/000.txt")
	if err != nil || !slices.Equal(files(t, dest), []string{"train/c0/000.txt"}) || len(res.RangedLayers) != 0 {
		t.Fatalf("without ranges: %v %+v", err, res)
	}
	reg.mu.Lock()
	whole0 := reg.whole[groupOf["train/c0/000.txt"].String()]
	reg.mu.Unlock()
	if whole0 == 0 {
		t.Fatal("without ranges the group was not read whole")
	}
}

// An index that leaves a selected file out (written by someone with write
// access to the repository) cannot make a partial pull skip it: the pull
// is refused, naming the file, since the signature lists it.
func TestPartialPullIndexLeavesFileOut(t *testing.T) {
	ctx := context.Background()
	reg := &rangeRegistry{}
	reg.reset()
	reg.refuseIndex = true
	host := testutil.Registry(t, testutil.Olareg, reg.wrap)
	release := newKey(t, "release")
	src, _ := classes(t, 1, 300)
	ref := host + "/data/ds:v1"
	pushed, err := workflow.Push(ctx, open(t, ref), src, workflow.PushOptions{Scan: artifact.ScanOptions{Dataset: true}, Signed: true})
	if err != nil || len(pushed.Warnings) != 1 || !strings.Contains(pushed.Warnings[0], "tar index") {
		t.Fatalf("push with the index refused: %v %+v", err, pushed)
	}
	if _, err := workflow.SignPushed(ctx, open(t, host+"/data/ds@"+pushed.Digest.String()), release.signer, pushed); err != nil {
		t.Fatal(err)
	}
	// The forged index: the group's files but 007.txt.
	scanned, err := artifact.Scan(src, artifact.ScanOptions{Dataset: true})
	if err != nil {
		t.Fatal(err)
	}
	var unit artifact.Unit
	for _, u := range artifact.Units(scanned, artifact.GroupOptions{}) {
		if u.Tar {
			unit = u
		}
	}
	entries, err := artifact.TarEntries(unit)
	if err != nil {
		t.Fatal(err)
	}
	var forged []artifact.TarEntry
	for _, e := range entries {
		if e.Path != "train/c0/007.txt" {
			forged = append(forged, e)
		}
	}
	layer := pushed.Files[0].Layer
	blob, err := artifact.EncodeTarIndex([]artifact.TarGroup{{Layer: layer, Entries: forged}})
	if err != nil {
		t.Fatal(err)
	}
	repo := open(t, ref)
	bd := ocispec.Descriptor{MediaType: artifact.TarIndexMediaType, Digest: digest.FromBytes(blob), Size: int64(len(blob)), Annotations: map[string]string{artifact.AnnotationTarLayers: layer.String()}}
	pushBytes(t, repo, bd, blob)
	pushBytes(t, repo, ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	subject := resolve(t, open(t, ref))
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifact.TarIndexArtifactType, Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{bd}, Subject: &subject})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifact.TarIndexArtifactType, Digest: digest.FromBytes(m), Size: int64(len(m))}
	reg.set(func(g *rangeRegistry) { g.refuseIndex = false })
	if err := repo.PushManifest(ctx, md, m, ""); err != nil {
		t.Fatal(err)
	}
	reg.reset()
	// 007 alone, or with files far enough away to be a range of their own.
	for _, include := range [][]string{{"train/c0/007.txt"}, {"train/c0/007.txt", "train/c0/2*.txt"}} {
		_, err = workflow.Pull(ctx, open(t, ref), filepath.Join(t.TempDir(), "d"), workflow.PullOptions{Include: include, Policy: keyPolicy(release)})
		if !errors.Is(err, errdef.ErrModelMismatch) || !strings.Contains(err.Error(), "train/c0/007.txt") {
			t.Fatalf("%q, an index leaving a signed file out: %v", include, err)
		}
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.ranged[layer.String()] == 0 {
		t.Fatal("the forged index was not used")
	}
}

func pushBytes(t *testing.T, repo interface {
	PushBlob(context.Context, ocispec.Descriptor, func() (io.ReadCloser, error)) (bool, error)
}, d ocispec.Descriptor, data []byte) {
	t.Helper()
	if _, err := repo.PushBlob(context.Background(), d, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }); err != nil {
		t.Fatal(err)
	}
}
