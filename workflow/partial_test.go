package workflow_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/oms"
	"github.com/vessel-oci/vessel/workflow"
)

// blobCounter counts the blob GETs a registry serves, per digest.
type blobCounter struct {
	mu   sync.Mutex
	gets map[string]int
}

func (c *blobCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if _, d, ok := strings.Cut(r.URL.Path, "/blobs/"); ok {
				c.mu.Lock()
				c.gets[d]++
				c.mu.Unlock()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (c *blobCounter) count(d digest.Digest) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets[d.String()]
}

func (c *blobCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets = map[string]int{}
}

func countingRegistry(t *testing.T) (string, *blobCounter) {
	c := &blobCounter{gets: map[string]int{}}
	return testutil.Registry(t, testutil.Olareg, c.wrap), c
}

// files lists the regular files under dir (slash paths), sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for name, h := range testutil.HashTree(t, dir) {
		if h != "dir" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func resultPaths(res *workflow.PullResult) []string {
	var out []string
	for _, f := range res.Files {
		out = append(out, f.Path)
	}
	slices.Sort(out)
	return out
}

func TestPartialPull(t *testing.T) {
	ctx := context.Background()
	host, blobs := countingRegistry(t)
	src := writeModel(t)
	pushed, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), src, workflow.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		include []string
		want    []string
	}{
		{"path and base name globs", []string{"tokenizer/*", "*.json"}, []string{"config.json", "tokenizer/merges.txt", "tokenizer/vocab/v.json"}},
		{"one file", []string{"README.md"}, []string{"README.md"}},
		{"path glob matches the whole path only", []string{"tokenizer/*/*.json"}, []string{"tokenizer/vocab/v.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blobs.reset()
			dest := filepath.Join(t.TempDir(), "m")
			res, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true, Include: tc.include})
			if err != nil {
				t.Fatal(err)
			}
			if got := files(t, dest); !slices.Equal(got, tc.want) {
				t.Fatalf("wrote %q, want %q", got, tc.want)
			}
			if got := resultPaths(res); !slices.Equal(got, tc.want) {
				t.Errorf("result lists %q, want %q", got, tc.want)
			}
			want := testutil.HashTree(t, src)
			for name, h := range testutil.HashTree(t, dest) {
				if h != want[name] {
					t.Errorf("%s: content differs from the pushed file", name)
				}
			}
			for _, f := range pushed.Files {
				n := blobs.count(f.Digest)
				if selected := slices.Contains(tc.want, f.Path); selected && n != 1 || !selected && n != 0 {
					t.Errorf("%s (selected %v) fetched %d times", f.Path, selected, n)
				}
			}
		})
	}
}

func TestPartialPullRefusals(t *testing.T) {
	ctx := context.Background()
	var victim atomic.Value
	c := &blobCounter{gets: map[string]int{}}
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler { return c.wrap(tamper(&victim)(next)) })
	pushed, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	layerGets := func() int {
		n := 0
		for _, f := range pushed.Files {
			n += c.count(f.Digest)
		}
		return n
	}
	for _, f := range pushed.Files {
		if f.Path == "config.json" {
			victim.Store(f.Digest.String())
		}
	}
	release := newKey(t, "release")
	for _, tc := range []struct {
		name string
		opts workflow.PullOptions
		want error
		// fetches says whether layers may be fetched before the refusal.
		fetches bool
	}{
		{"tampered selected layer", workflow.PullOptions{InsecureSkipVerify: true, Include: []string{"*.json"}}, errdef.ErrDigestMismatch, true},
		{"no match", workflow.PullOptions{InsecureSkipVerify: true, Include: []string{"*.bin", "weights/*"}}, artifact.ErrNoMatch, false},
		{"bad glob", workflow.PullOptions{InsecureSkipVerify: true, Include: []string{"[x"}}, path.ErrBadPattern, false},
		{"unsigned under a policy", workflow.PullOptions{Include: []string{"README.md"}, Policy: keyPolicy(release)}, errdef.ErrUntrusted, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.reset()
			parent := t.TempDir()
			_, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), filepath.Join(parent, "m"), tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got := testutil.Entries(t, parent); len(got) != 0 {
				t.Fatalf("pull left %v", got)
			}
			if n := layerGets(); !tc.fetches && n != 0 {
				t.Errorf("%d layers fetched before the refusal", n)
			}
		})
	}

	// The whole model's signature cannot travel with part of it.
	dest := filepath.Join(t.TempDir(), "m")
	_, err = workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{
		InsecureSkipVerify: true,
		Include:            []string{"README.md"}, SignaturePath: filepath.Join(dest, "model.sig"),
	})
	if err == nil {
		t.Fatal("partial pull with a signature path succeeded")
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatal("destination written")
	}
}

func TestPartialPullSigned(t *testing.T) {
	ctx := context.Background()
	host, blobs := countingRegistry(t)
	release := newKey(t, "release")
	pushed, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Sign(ctx, open(t, host+"/x/m:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	blobs.reset()
	dest := filepath.Join(t.TempDir(), "m")
	res, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{
		Include: []string{"config.json"}, Policy: keyPolicy(release),
	})
	if err != nil || res.Verification == nil || !res.Verification.Verified || res.Verification.OMS == nil {
		t.Fatalf("signed partial pull: %+v, %v", res, err)
	}
	if got := files(t, dest); !slices.Equal(got, []string{"config.json"}) {
		t.Fatalf("wrote %q", got)
	}
	for _, f := range pushed.Files {
		if n := blobs.count(f.Digest); f.Path != "config.json" && n != 0 {
			t.Errorf("%s fetched %d times", f.Path, n)
		}
	}
}

func TestPartialPullTarLayers(t *testing.T) {
	ctx := context.Background()
	host, blobs := countingRegistry(t)
	release := newKey(t, "release")
	tok := map[string]string{"tokenizer/vocab.json": `{"a":1}`, "tokenizer/merges.txt": "a b"}
	pushTarModel(t, open(t, host+"/x/tar:v1"), tok)
	signed, err := workflow.Sign(ctx, open(t, host+"/x/tar:v1"), release.signer)
	if err != nil {
		t.Fatal(err)
	}
	policy := keyPolicy(release)

	blobs.reset()
	dest := filepath.Join(t.TempDir(), "m")
	res, err := workflow.Pull(ctx, open(t, host+"/x/tar:v1"), dest, workflow.PullOptions{Include: []string{"*.json"}, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	if got := files(t, dest); !slices.Equal(got, []string{"tokenizer/vocab.json"}) {
		t.Fatalf("wrote %q", got)
	}
	if len(res.Files) != 1 || res.Files[0].Path != "tokenizer/vocab.json" ||
		res.Files[0].Digest != digest.FromString(tok["tokenizer/vocab.json"]) || res.Files[0].Size != int64(len(tok["tokenizer/vocab.json"])) {
		t.Fatalf("result files: %+v", res.Files)
	}
	if n := blobs.count(digest.FromString("weights")); n != 0 {
		t.Errorf("unselected raw layer fetched %d times", n)
	}

	// Nothing inside the tar layer matches either: known only after reading
	// it, and still an error that writes nothing.
	parent := t.TempDir()
	if _, err := workflow.Pull(ctx, open(t, host+"/x/tar:v1"), filepath.Join(parent, "m"), workflow.PullOptions{InsecureSkipVerify: true, Include: []string{"*.safetensors"}}); !errors.Is(err, artifact.ErrNoMatch) {
		t.Fatalf("no match in a tar layer: %v", err)
	}
	if got := testutil.Entries(t, parent); len(got) != 0 {
		t.Fatalf("pull left %v", got)
	}

	// The OMS signature of another tokenizer, attached to this model: a
	// written file that differs from it is refused. (A file that is not
	// written is not compared; see checkWritten.)
	tok["tokenizer/vocab.json"] = `{"a":2}`
	pushTarModel(t, open(t, host+"/x/evil:v1"), tok)
	if _, err := workflow.Sign(ctx, open(t, host+"/x/evil:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	pushReferrer(t, open(t, host+"/x/evil:v1"), resolve(t, open(t, host+"/x/evil:v1")), referrerBundle(t, open(t, host+"/x/tar:v1"), signed.OMS), oms.PredicateType)
	parent = t.TempDir()
	_, err = workflow.Pull(ctx, open(t, host+"/x/evil:v1"), filepath.Join(parent, "m"), workflow.PullOptions{Include: []string{"vocab.json"}, Policy: policy})
	if !errors.Is(err, errdef.ErrModelMismatch) || !strings.Contains(err.Error(), "vocab.json") {
		t.Fatalf("mismatching selected tar file: %v", err)
	}
	if got := testutil.Entries(t, parent); len(got) != 0 {
		t.Fatalf("pull left %v", got)
	}
	if _, err := workflow.Pull(ctx, open(t, host+"/x/evil:v1"), filepath.Join(parent, "m"), workflow.PullOptions{Include: []string{"merges.txt"}, Policy: policy}); err != nil {
		t.Fatalf("selected file agrees with every signature: %v", err)
	}
}
