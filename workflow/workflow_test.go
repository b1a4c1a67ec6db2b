package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/fsx"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/store"
	"github.com/vessel-oci/vessel/workflow"
)

// target is one place models can live: the same tests run on each.
type target struct {
	name string
	// open returns a repository for "repo:tag" (tag may be empty).
	open func(t *testing.T, repoTag string) *registry.Repository
	// corrupt flips a byte of a stored blob, where the test can reach storage.
	corrupt func(t *testing.T, d digest.Digest)
}

func targets(t *testing.T) []target {
	var out []target
	for _, b := range testutil.Backends {
		host := testutil.Registry(t, b, nil)
		out = append(out, target{name: string(b), open: func(t *testing.T, repoTag string) *registry.Repository {
			return open(t, host+"/"+repoTag)
		}})
	}
	layout := filepath.Join(t.TempDir(), "layout")
	out = append(out, target{
		name: "oci-layout",
		open: func(t *testing.T, repoTag string) *registry.Repository {
			// One layout per test repo; the tag keeps its own name.
			_, tag, _ := strings.Cut(repoTag, ":")
			ref := "oci:" + layout + "-" + strings.NewReplacer("/", "-", ":", "-").Replace(repoTag)
			if tag != "" {
				ref += ":" + tag
			}
			return openWith(t, ref, registry.Options{CreateLayout: true})
		},
	})
	return out
}

func open(t *testing.T, ref string) *registry.Repository {
	return openWith(t, ref, registry.Options{})
}

func openWith(t *testing.T, ref string, opts registry.Options) *registry.Repository {
	t.Helper()
	r, err := registry.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.Open(context.Background(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

var sampleModel = map[string]string{
	"config.json":            `{"model_type":"llama","torch_dtype":"bfloat16","num_attention_heads":4}`,
	"model.safetensors":      strings.Repeat("weights!", 50000),
	"README.md":              "# sample\n",
	"tokenizer/merges.txt":   "a b\n",
	"tokenizer/vocab/v.json": `{"a":1}`,
}

func writeModel(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "model")
	testutil.WriteTree(t, dir, sampleModel)
	return dir
}

func TestPushPullRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := writeModel(t)
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			res, err := workflow.Push(ctx, tg.open(t, "team/model:v1"), src, workflow.PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != len(sampleModel) || res.BytesSent == 0 {
				t.Fatalf("push result: %d files, %d bytes sent", len(res.Files), res.BytesSent)
			}
			dest := filepath.Join(t.TempDir(), "deploy", "model")
			pres, err := workflow.Pull(ctx, tg.open(t, "team/model:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			if pres.Digest != res.Digest {
				t.Errorf("pulled %s, pushed %s", pres.Digest, res.Digest)
			}
			assertSameTree(t, src, dest)

			// Again, unchanged: nothing is uploaded and the digest is the same.
			again, err := workflow.Push(ctx, tg.open(t, "team/model:v1"), src, workflow.PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if again.Digest != res.Digest || again.BytesSent != 0 {
				t.Errorf("re-push: digest %s (was %s), %d bytes sent", again.Digest, res.Digest, again.BytesSent)
			}
		})
	}
}

func assertSameTree(t *testing.T, want, got string) {
	t.Helper()
	w, g := testutil.HashTree(t, want), testutil.HashTree(t, got)
	if fmt.Sprint(w) != fmt.Sprint(g) {
		t.Fatalf("trees differ:\nwant %v\ngot  %v", w, g)
	}
}

func TestPushIsReproducible(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t, testutil.Olareg, nil)
	a, b := writeModel(t), writeModel(t) // same content, different paths
	ra, err := workflow.Push(ctx, open(t, host+"/x/a:v1"), a, workflow.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := workflow.Push(ctx, open(t, host+"/x/b:v1"), b, workflow.PushOptions{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ra.Digest != rb.Digest {
		t.Fatalf("same content, different digests: %s vs %s", ra.Digest, rb.Digest)
	}
	testutil.WriteTree(t, b, map[string]string{"README.md": "# changed\n"})
	rc, err := workflow.Push(ctx, open(t, host+"/x/b:v2"), b, workflow.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Digest == ra.Digest {
		t.Fatal("changed content kept the same digest")
	}
}

func TestFailedPushLeavesNoTag(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	host := testutil.Registry(t, testutil.Olareg, nil)
	_, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{
		Concurrency: 1,
		Progress: func(e workflow.Event) {
			if e.Kind == workflow.EventDone {
				cancel() // interrupted after the first file is uploaded
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("push error = %v, want context.Canceled", err)
	}
	if _, err := open(t, host+"/x/m:v1").Resolve(context.Background()); err == nil {
		t.Fatal("tag exists after a failed push")
	}
}

// tamper serves a flipped byte in one blob's body.
func tamper(victim *atomic.Value) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d, _ := victim.Load().(string)
			if d == "" || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+d) {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(&flipWriter{ResponseWriter: w}, r)
		})
	}
}

type flipWriter struct {
	http.ResponseWriter
	done bool
}

func (f *flipWriter) Write(b []byte) (int, error) {
	if !f.done && len(b) > 0 {
		c := append([]byte{}, b...)
		c[len(c)/2] ^= 0xff
		f.done = true
		return f.ResponseWriter.Write(c)
	}
	return f.ResponseWriter.Write(b)
}

func TestPullTamperedBlobWritesNothing(t *testing.T) {
	ctx := context.Background()
	var victim atomic.Value
	host := testutil.Registry(t, testutil.Olareg, tamper(&victim))
	res, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		if f.Path == "model.safetensors" {
			victim.Store(f.Digest.String())
		}
	}
	parent := t.TempDir()
	testutil.WriteTree(t, parent, map[string]string{"keep/old.txt": "old"})
	before := testutil.HashTree(t, parent)
	for _, dest := range []string{"new", "keep"} {
		_, err = workflow.Pull(ctx, open(t, host+"/x/m:v1"), filepath.Join(parent, dest), workflow.PullOptions{InsecureSkipVerify: true, Force: true})
		if !errors.Is(err, errdef.ErrDigestMismatch) || !errors.Is(err, errdef.ErrVerification) {
			t.Fatalf("pull of tampered blob into %s: err = %v, want digest mismatch", dest, err)
		}
		if !strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), victim.Load().(string)) {
			t.Errorf("error does not name the file and digest: %v", err)
		}
		if after := testutil.HashTree(t, parent); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("destination parent changed:\nbefore %v\nafter  %v", before, after)
		}
	}
}

func TestPullCorruptLayoutBlob(t *testing.T) {
	ctx := context.Background()
	layout := filepath.Join(t.TempDir(), "store")
	res, err := workflow.Push(ctx, openWith(t, "oci:"+layout+":v1", registry.Options{CreateLayout: true}), writeModel(t), workflow.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(layout, "blobs", "sha256", res.Files[0].Digest.Encoded())
	if err := os.WriteFile(blob, []byte("# evil\n!"), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "m")
	_, err = workflow.Pull(ctx, open(t, "oci:"+layout+":v1"), dest, workflow.PullOptions{InsecureSkipVerify: true})
	if !errors.Is(err, errdef.ErrVerification) {
		t.Fatalf("err = %v, want a verification error", err)
	}
	if _, serr := os.Stat(dest); !os.IsNotExist(serr) {
		t.Fatalf("destination exists after failed pull: %v", serr)
	}
}

// pushManifest stores a hand-made manifest with the given layers (content
// per layer) and returns a repository for its tag.
func pushManifest(t *testing.T, repo *registry.Repository, artifactType, configType string, layers []ocispec.Descriptor, contents [][]byte) {
	t.Helper()
	ctx := context.Background()
	for i, l := range layers {
		c := contents[i]
		if _, err := repo.PushBlob(ctx, l, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(c))), nil }); err != nil {
			t.Fatal(err)
		}
	}
	cfg := []byte("{}")
	cfgDesc := ocispec.Descriptor{MediaType: configType, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if _, err := repo.PushBlob(ctx, cfgDesc, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("{}")), nil }); err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: cfgDesc, Layers: layers}
	data, _ := json.Marshal(m)
	desc := ocispec.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := repo.PushManifest(ctx, desc, data, repo.Ref.Tag); err != nil {
		t.Fatal(err)
	}
}

func rawLayer(path, content, mediaType string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromString(content), Size: int64(len(content)),
		Annotations: map[string]string{"org.cncf.model.filepath": path, ocispec.AnnotationTitle: path}}
}

func TestPullRefusesEscapingPath(t *testing.T) {
	ctx := context.Background()
	var blobGets atomic.Int32
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				blobGets.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	weight := "application/vnd.cncf.model.weight.v1.raw"
	pushManifest(t, open(t, host+"/x/evil:v1"), "application/vnd.cncf.model.manifest.v1+json", "application/vnd.oci.empty.v1+json",
		[]ocispec.Descriptor{rawLayer("ok.bin", "fine", weight), rawLayer("../escape", "pwned", weight)},
		[][]byte{[]byte("fine"), []byte("pwned")})
	parent := t.TempDir()
	dest := filepath.Join(parent, "m")
	blobGets.Store(0)
	_, err := workflow.Pull(ctx, open(t, host+"/x/evil:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true})
	if !errors.Is(err, errdef.ErrUnsafePath) {
		t.Fatalf("err = %v, want ErrUnsafePath", err)
	}
	if n := blobGets.Load(); n != 0 {
		t.Errorf("%d blobs fetched before the manifest was refused", n)
	}
	if got := testutil.Entries(t, parent); len(got) != 0 {
		t.Fatalf("pull wrote %v next to the destination", got)
	}
	if _, err := os.Stat(filepath.Join(parent, "..", "escape")); !os.IsNotExist(err) {
		t.Fatal("escape file written outside the destination")
	}
}

// The policy is checked after the manifest and before any layer: a refused
// model costs the manifest and its config. With no trust at all, nothing
// is fetched.
func TestPullTrustIsCheckedBeforeDownload(t *testing.T) {
	ctx := context.Background()
	var blobGets, manifestGets atomic.Int32
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				blobGets.Add(1)
			}
			if strings.Contains(r.URL.Path, "/manifests/") {
				manifestGets.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	if _, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	blobGets.Store(0)
	manifestGets.Store(0)
	dest := filepath.Join(t.TempDir(), "m")
	_, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{})
	if !errors.Is(err, workflow.ErrNoTrust) || errors.Is(err, errdef.ErrVerification) {
		t.Fatalf("pull with no trust: %v, want ErrNoTrust", err)
	}
	if n := blobGets.Load() + manifestGets.Load(); n != 0 {
		t.Errorf("pull with no trust made %d requests", n)
	}
	if _, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{Policy: keyPolicy(newKey(t, "k")), InsecureSkipVerify: true}); !errors.Is(err, workflow.ErrNoTrust) {
		t.Fatalf("pull with a policy and InsecureSkipVerify: %v, want ErrNoTrust", err)
	}
	_, err = workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{Policy: keyPolicy(newKey(t, "other"))})
	if !errors.Is(err, errdef.ErrUntrusted) {
		t.Fatalf("pull of an unsigned model: %v, want ErrUntrusted", err)
	}
	// Only the config blob (a few bytes) may have been fetched.
	if n := blobGets.Load(); n > 1 {
		t.Errorf("%d blobs fetched before the policy refused", n)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatal("destination created")
	}
	if _, err := workflow.Copy(ctx, open(t, host+"/x/m:v1"), open(t, host+"/y/m:v1"), workflow.CopyOptions{}); !errors.Is(err, workflow.ErrNoTrust) {
		t.Fatalf("copy with no trust: %v, want ErrNoTrust", err)
	}
	if _, err := workflow.Verify(ctx, open(t, host+"/x/m:v1"), nil); !errors.Is(err, workflow.ErrNoTrust) {
		t.Fatalf("verify with no policy: %v, want ErrNoTrust", err)
	}
	if _, err := workflow.Attestations(ctx, open(t, host+"/x/m:v1"), nil, ""); !errors.Is(err, workflow.ErrNoTrust) {
		t.Fatalf("attestations with no policy: %v, want ErrNoTrust", err)
	}
}

func TestPullDestinationRules(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t, testutil.Olareg, nil)
	src := writeModel(t)
	if _, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), src, workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	dest := filepath.Join(parent, "m")
	testutil.WriteTree(t, dest, map[string]string{"old.bin": "old"})
	_, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true})
	if !errors.Is(err, workflow.ErrDestinationExists) {
		t.Fatalf("err = %v, want ErrDestinationExists", err)
	}
	if got := testutil.HashTree(t, dest); len(got) != 1 {
		t.Fatalf("refused pull changed the destination: %v", got)
	}
	if _, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true, Force: true}); err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, src, dest)
	if got := testutil.Entries(t, parent); len(got) != 1 || got[0] != "m" {
		t.Fatalf("leftovers beside the destination: %v", got)
	}
	// An empty existing directory is fine without --force.
	empty := filepath.Join(parent, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), empty, workflow.PullOptions{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, src, empty)
	// A file is never replaced by a directory.
	file := filepath.Join(parent, "file")
	testutil.WriteTree(t, parent, map[string]string{"file": "x"})
	if _, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), file, workflow.PullOptions{InsecureSkipVerify: true, Force: true}); err == nil {
		t.Fatal("pull over a regular file succeeded")
	}
}

func TestPullForeignArtifacts(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t, testutil.Olareg, nil)
	// A plain `oras push` of files: title annotations, default layer type.
	orasLayer := func(p, c string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest.FromString(c), Size: int64(len(c)),
			Annotations: map[string]string{ocispec.AnnotationTitle: p}}
	}
	pushManifest(t, open(t, host+"/x/oras:v1"), "application/vnd.unknown.artifact.v1", "application/vnd.oci.empty.v1+json",
		[]ocispec.Descriptor{orasLayer("a.txt", "A"), orasLayer("b.bin", "BB")}, [][]byte{[]byte("A"), []byte("BB")})
	dest := filepath.Join(t.TempDir(), "oras")
	res, err := workflow.Pull(ctx, open(t, host+"/x/oras:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != artifact.KindORAS {
		t.Errorf("kind = %s", res.Kind)
	}
	if got := testutil.HashTree(t, dest); len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	// Legacy org.cnai names.
	legacy := ocispec.Descriptor{MediaType: "application/vnd.cnai.model.weight.v1.raw", Digest: digest.FromString("w"), Size: 1,
		Annotations: map[string]string{"org.cnai.model.filepath": "w.bin"}}
	pushManifest(t, open(t, host+"/x/cnai:v1"), "application/vnd.cnai.model.manifest.v1+json", "application/vnd.oci.empty.v1+json",
		[]ocispec.Descriptor{legacy}, [][]byte{[]byte("w")})
	dest = filepath.Join(t.TempDir(), "cnai")
	if _, err := workflow.Pull(ctx, open(t, host+"/x/cnai:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "w.bin")); err != nil || string(b) != "w" {
		t.Fatalf("w.bin = %q, %v", b, err)
	}
}

func TestInspectListsFilesAndReferrers(t *testing.T) {
	ctx := context.Background()
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			res, err := workflow.Push(ctx, tg.open(t, "x/m:v1"), writeModel(t), workflow.PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// A referrer: any manifest whose subject is the model.
			repo := tg.open(t, "x/m:v1")
			subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: res.Digest, Size: res.Size}
			empty := ocispec.DescriptorEmptyJSON
			if _, err := repo.PushBlob(ctx, empty, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("{}")), nil }); err != nil {
				t.Fatal(err)
			}
			m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
				ArtifactType: "application/vnd.example.note", Config: empty, Layers: []ocispec.Descriptor{empty}, Subject: &subject}
			data, _ := json.Marshal(m)
			desc := ocispec.Descriptor{MediaType: m.MediaType, ArtifactType: m.ArtifactType, Digest: digest.FromBytes(data), Size: int64(len(data))}
			if err := repo.PushManifest(ctx, desc, data, ""); err != nil {
				t.Fatal(err)
			}
			in, err := workflow.Inspect(ctx, tg.open(t, "x/m:v1"))
			if err != nil {
				t.Fatal(err)
			}
			if in.Digest != res.Digest || len(in.Files) != len(sampleModel) || in.Config == nil || in.Config.Descriptor.Family != "llama" {
				t.Fatalf("inspection = %+v", in)
			}
			if len(in.Referrers) != 1 || in.Referrers[0].Digest != desc.Digest {
				t.Fatalf("referrers = %+v, want %s", in.Referrers, desc.Digest)
			}
		})
	}
}

func TestInterruptedPullLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	host := testutil.Registry(t, testutil.Olareg, nil)
	if _, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	testutil.WriteTree(t, parent, map[string]string{"m/old.txt": "old"})
	before := testutil.HashTree(t, parent)
	_, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), filepath.Join(parent, "m"), workflow.PullOptions{
		InsecureSkipVerify: true,
		Force:              true,
		Progress: func(e workflow.Event) {
			if e.Kind == workflow.EventBytes && e.Path == "model.safetensors" {
				cancel() // Ctrl-C while the largest file's bytes are arriving
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The destination is as it was; beside it, only what the next pull
	// resumes from.
	after := testutil.HashTree(t, parent)
	for name := range after {
		if strings.HasPrefix(name, ".m.vessel-partial") {
			delete(after, name)
		}
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("interrupted pull changed things:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := os.Stat(workflow.PrivateStore(filepath.Join(parent, "m"))); err != nil {
		t.Fatalf("interrupted pull kept nothing to resume from: %v", err)
	}
	if _, err := workflow.Pull(context.Background(), open(t, host+"/x/m:v1"), filepath.Join(parent, "m"), workflow.PullOptions{InsecureSkipVerify: true, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.Entries(t, parent); !slices.Equal(got, []string{"m"}) {
		t.Fatalf("after the rerun the parent holds %v, want only m", got)
	}
}

// Two pulls of different models into one absent destination, without
// Force: exactly one wins, the other fails with ErrDestinationExists and
// the winner's files are intact (both used to succeed, the last one
// replacing the first).
func TestConcurrentPullsIntoOneDestination(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t, testutil.Olareg, nil)
	for i, name := range []string{"a", "b"} {
		dir := t.TempDir()
		testutil.WriteTree(t, dir, map[string]string{"config.json": "{}", "model.safetensors": strings.Repeat(name, 1000+i)})
		if _, err := workflow.Push(ctx, open(t, host+"/x/"+name+":v1"), dir, workflow.PushOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for trial := range 8 {
		dest := filepath.Join(t.TempDir(), "m")
		errs := make([]error, 2)
		stores := make([]*store.Store, 2)
		for i := range stores {
			s, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			stores[i] = s
		}
		var wg sync.WaitGroup
		for i, name := range []string{"a", "b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = workflow.Pull(ctx, open(t, host+"/x/"+name+":v1"), dest, workflow.PullOptions{InsecureSkipVerify: true, Store: stores[i]})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, workflow.ErrDestinationExists):
				t.Fatalf("trial %d: the losing pull failed with %v, want ErrDestinationExists", trial, err)
			}
		}
		if won != 1 {
			t.Fatalf("trial %d: %d pulls won (errors %v), want exactly one", trial, won, errs)
		}
		got, err := os.ReadFile(filepath.Join(dest, "model.safetensors"))
		if err != nil || (len(got) != 1000 && len(got) != 1001) {
			t.Fatalf("trial %d: winner's file: %d bytes, %v", trial, len(got), err)
		}
		if want := map[int]int{1000: 0, 1001: 1}[len(got)]; errs[want] != nil {
			t.Fatalf("trial %d: the destination holds the loser's model", trial)
		}
	}
}

// What a killed pull left beside its destination (a staging directory no
// one holds) is removed by the next pull into that destination; a staging
// directory a running pull holds, and those of other destinations, stay.
func TestPullClearsAbandonedStaging(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t, testutil.Olareg, nil)
	if _, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(parent, name)
		testutil.WriteTree(t, p, map[string]string{"model.safetensors": "half"})
		return p
	}
	abandoned, live := mk(".vessel-pull-m-1234"), mk(".vessel-pull-m-5678")
	others := []string{mk(".vessel-pull-n-1234"), mk(".vessel-pull-m-x-1234")} // other destinations'
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ok, err := fsx.TryLock(f); !ok || err != nil {
		t.Fatalf("lock %s: %v %v", live, ok, err)
	}
	if _, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), filepath.Join(parent, "m"), workflow.PullOptions{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abandoned); !os.IsNotExist(err) {
		t.Errorf("abandoned staging %s left: %v", abandoned, err)
	}
	for _, p := range append(others, live) {
		if _, err := os.Stat(filepath.Join(p, "model.safetensors")); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}
