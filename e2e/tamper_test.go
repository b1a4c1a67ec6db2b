//go:build e2e

package e2e

// The tamper matrix (issue 16): every attack the security review tried,
// table-driven, against both kinds of registry process. Each row is
// refused with exit 3 and a message naming what was wrong; the
// destination's parent is as it was (no destination, no staging, no
// private store), and the content store holds only blobs that match their
// digests and no partial download. The README's security table lists the
// same rows.

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// tamperEnv is one registry with the keys and helpers the rows share.
type tamperEnv struct {
	r                      *Registry
	keys                   string
	releaseKey, releasePub string
	otherKey, otherPub     string
	ref                    func(repo string) string // repo:v1 on r
	policy                 func(t *testing.T, doc string) string
}

// tamperCase is one attack. prepare makes it on e.r (each in a repository
// of its own, with content of its own: Distribution shares blobs across
// repositories) and returns vessel's arguments. For a pull the runner
// adds the destination and a content store of the row's own.
type tamperCase struct {
	name    string
	prepare func(t *testing.T, e *tamperEnv, repo string) []string
	// want are what stderr must say (all of them).
	want []string
	// after checks what a refused command other than pull left (a copy's
	// destination tag).
	after func(t *testing.T, e *tamperEnv, repo string)
}

func TestTamperMatrix(t *testing.T) {
	for _, rk := range ppRegistries {
		t.Run(rk.name, func(t *testing.T) {
			t.Parallel()
			r := rk.start(t)
			keys := t.TempDir()
			e := &tamperEnv{r: r, keys: keys, ref: func(repo string) string { return r.Ref(repo + ":v1") }}
			e.releaseKey, e.releasePub = keygen(t, keys, "release")
			e.otherKey, e.otherPub = keygen(t, keys, "other")
			e.policy = func(t *testing.T, doc string) string {
				p := filepath.Join(t.TempDir(), "policy.yaml")
				doc = strings.ReplaceAll(doc, "RELEASE_PUB", e.releasePub)
				doc = strings.ReplaceAll(doc, "OTHER_PUB", e.otherPub)
				doc = strings.ReplaceAll(doc, "HOST", r.Host)
				if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			for i, c := range tamperCases {
				t.Run(c.name, func(t *testing.T) {
					runTamperCase(t, e, fmt.Sprintf("tamper/row%02d", i), c)
				})
			}
		})
	}
}

func runTamperCase(t *testing.T, e *tamperEnv, repo string, c tamperCase) {
	args := c.prepare(t, e, repo)
	parent := t.TempDir()
	writeFiles(t, parent, map[string]string{"neighbour.txt": "untouched\n", "store/keep": ""})
	store := filepath.Join(parent, "store")
	before := snapshotTree(t, parent)
	if args[0] == "pull" {
		args = append(args, filepath.Join(parent, "model"), "--cache-dir", store, "-q")
	}
	_, stderr, code := vessel(t, args...)
	if code != 3 {
		t.Fatalf("vessel %s: exit %d, want 3 (verification failed)\n%s", strings.Join(args, " "), code, stderr)
	}
	for _, w := range c.want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, stderr)
		}
	}
	// Nothing at the destination or beside it: the store may have gained
	// verified blobs (and its empty directories), nothing else.
	after := snapshotTree(t, parent)
	for p := range after {
		if _, ok := before[p]; !ok && !strings.HasPrefix(p, "store/") {
			t.Errorf("the refused %s left %s", args[0], p)
		}
	}
	for p, was := range before {
		if after[p] != was && p != "store" {
			t.Errorf("the refused %s changed %s", args[0], p)
		}
	}
	assertStoreClean(t, store)
	if c.after != nil {
		c.after(t, e, repo)
	}
}

// assertStoreClean fails unless every blob in the content store at dir
// hashes to its name and no partial download is left.
func assertStoreClean(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == "keep":
		case strings.HasPrefix(rel, "blobs/sha256/"):
			if !d.Type().IsRegular() {
				t.Errorf("store: %s is not a regular file", rel)
				return nil
			}
			sum, err := fileSHA256(p)
			if err != nil {
				return err
			}
			if sum != strings.TrimPrefix(rel, "blobs/sha256/") {
				t.Errorf("store: %s holds content of sha256 %s", rel, sum)
			}
		case strings.HasPrefix(rel, "partial/") && strings.HasSuffix(rel, ".lock"):
			// A lock file is empty and kept: removing it would race
			// another process taking it.
		default:
			t.Errorf("store: %s left behind", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the store: %v", err)
	}
}

// ---------------------------------------------------------------------------
// Making models and attacks

// tamperModel writes a small model whose every file is unique to name (so
// that tampering with its blobs touches no other row's), with a 2 MiB
// weights file (large enough to be hard-linked from the store).
func tamperModel(t *testing.T, name string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	weights := make([]byte, 2<<20)
	if _, err := rand.Read(weights); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"model.safetensors":   string(weights),
		"config.json":         fmt.Sprintf(`{"model_type":"llama","case":%q}`, name),
		"tokenizer/vocab.txt": "hello\nworld\n" + name + "\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	writeFiles(t, dir, files)
	return dir
}

// pushModel pushes dir to ref, signed with key unless key is "", and
// returns the manifest digest and each file's blob digest.
func pushModel(t *testing.T, dir, ref, key string) (string, map[string]string) {
	t.Helper()
	args := []string{"push", dir, ref, "-o", "json", "-q"}
	if key != "" {
		args = append(args, "--key", key)
	}
	out, stderr, code := vessel(t, args...)
	if code != 0 {
		t.Fatalf("push %s: exit %d: %s", ref, code, stderr)
	}
	var res ppPushResult
	ppDecode(t, "vessel push -o json", out, &res)
	files := map[string]string{}
	for _, f := range res.Files {
		files[f.Path] = f.Digest
	}
	return res.Digest, files
}

// editBlob rewrites a blob in the registry's storage.
func editBlob(t *testing.T, e *tamperEnv, repo, digest string, edit func([]byte) []byte) {
	t.Helper()
	p := e.r.BlobPath(repo, digest)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read the stored blob: %v", err)
	}
	if err := os.WriteFile(p, edit(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func flipByte(b []byte) []byte { b[len(b)/2] ^= 0x01; return b }

// signedModel pushes a fresh model signed by the release key to repo and
// returns its digest and files.
func signedModel(t *testing.T, e *tamperEnv, repo string) (string, map[string]string) {
	return pushModel(t, tamperModel(t, repo, nil), e.ref(repo), e.releaseKey)
}

// crafted pushes, with the registry API, a ModelPack manifest of layers
// as repo:v1 and returns the arguments of an unverified pull (the
// structure is refused whoever signed it; the digests are still checked).
func crafted(t *testing.T, e *tamperEnv, repo string, layers ...ppDescriptor) []string {
	t.Helper()
	var ids []string
	for _, l := range layers {
		ids = append(ids, l.Digest)
	}
	cfg := ppUploadBlob(t, e.r, repo, ppConfigType, ppModelConfig(t, ids...))
	ppPutManifest(t, e.r, repo, "v1", ppManifest{
		SchemaVersion: 2, MediaType: ppOCIManifestType, ArtifactType: ppArtifactType,
		Config: cfg, Layers: layers,
	})
	return []string{"pull", e.ref(repo), "--insecure-skip-verify"}
}

// rawAt uploads content as a raw weight layer annotated with path.
func rawAt(t *testing.T, e *tamperEnv, repo, path, content string) ppDescriptor {
	d := ppUploadBlob(t, e.r, repo, ppWeightRaw, []byte(repo+"\n"+content))
	d.Annotations = map[string]string{ppFilepathAnnot: path}
	return d
}

// tarAt uploads a tar of hdrs (each file's body is its name) as a weight
// tar layer annotated with path.
func tarAt(t *testing.T, e *tamperEnv, repo, path string, hdrs ...tar.Header) ppDescriptor {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = repo + "/" + h.Name
			h.Size = int64(len(body))
		}
		h.Mode = 0o644
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	d := ppUploadBlob(t, e.r, repo, ppWeightTar, buf.Bytes())
	d.Annotations = map[string]string{ppFilepathAnnot: path}
	return d
}

// pullSigned is the arguments of a pull trusting the release key.
func pullSigned(e *tamperEnv, repo string) []string {
	return []string{"pull", e.ref(repo), "--key", e.releasePub}
}

// manyReferrers puts a hostile registry in front of e.r whose answer to
// the referrers of any manifest lists n of them (through the referrers
// API, or the tag schema where e.r has none), and counts what is asked.
func manyReferrers(t *testing.T, e *tamperEnv, n int) (host string, requests *atomic.Int64) {
	t.Helper()
	var idx bytes.Buffer
	idx.WriteString(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`)
	for i := range n {
		sum := sha256.Sum256(fmt.Appendf(nil, "referrer %d", i))
		if i > 0 {
			idx.WriteByte(',')
		}
		fmt.Fprintf(&idx, `{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"sha256:%s","size":600}`, hex.EncodeToString(sum[:]))
	}
	idx.WriteString(`]}`)
	body := idx.Bytes()
	target, err := url.Parse("http://" + e.r.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	requests = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests.Add(1)
		_, ref, _ := strings.Cut(req.URL.Path, "/manifests/")
		list := strings.Contains(req.URL.Path, "/referrers/") && e.r.ReferrersAPI ||
			strings.HasPrefix(ref, "sha256-") && !e.r.ReferrersAPI
		if !list {
			proxy.ServeHTTP(w, req)
			return
		}
		sum := sha256.Sum256(body)
		w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
		w.Header().Set("Docker-Content-Digest", "sha256:"+hex.EncodeToString(sum[:]))
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if req.Method != http.MethodHead {
			w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), requests
}

// tamperCases are the rows of the matrix.
var tamperCases = []tamperCase{
	// The bytes.
	{
		name: "weights tampered, same length",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			_, files := signedModel(t, e, repo)
			editBlob(t, e, repo, files["model.safetensors"], flipByte)
			return pullSigned(e, repo)
		},
		want: []string{"model.safetensors", "digest mismatch"},
	},
	{
		name: "weights tampered, length changed",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			_, files := signedModel(t, e, repo)
			editBlob(t, e, repo, files["model.safetensors"], func(b []byte) []byte { return append(b, "evil"...) })
			return pullSigned(e, repo)
		},
		want: []string{"model.safetensors", "size mismatch"},
	},
	{
		name: "manifest tampered in storage",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			digest, _ := signedModel(t, e, repo)
			editBlob(t, e, repo, digest, func(b []byte) []byte { return bytes.Replace(b, []byte(`"layers"`), []byte(`"Layers"`), 1) })
			return pullSigned(e, repo)
		},
		want: []string{"manifest", "digest mismatch"},
	},
	{
		name: "config tampered in storage",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			digest, _ := signedModel(t, e, repo)
			m, err := os.ReadFile(e.r.BlobPath(repo, digest))
			if err != nil {
				t.Fatal(err)
			}
			var man ppManifest
			ppDecode(t, "manifest", string(m), &man)
			editBlob(t, e, repo, man.Config.Digest, flipByte)
			return pullSigned(e, repo)
		},
		want: []string{"config", "digest mismatch"},
	},
	// The signatures.
	{
		name: "unsigned",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			pushModel(t, tamperModel(t, repo, nil), e.ref(repo), "")
			return pullSigned(e, repo)
		},
		want: []string{"not trusted", "no signatures found"},
	},
	{
		name: "signed by an untrusted key",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			pushModel(t, tamperModel(t, repo, nil), e.ref(repo), e.otherKey)
			return pullSigned(e, repo)
		},
		want: []string{"not trusted"},
	},
	{
		name: "a scope that rejects it",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			signedModel(t, e, repo)
			p := e.policy(t, "version: 1\nscopes:\n  - scope: \"HOST/**\"\n    signers: [{name: release, key: RELEASE_PUB}]\n  - scope: \"HOST/"+repo+"\"\n    reject: true\n")
			return []string{"pull", e.ref(repo), "--policy", p}
		},
		want: []string{"rejects"},
	},
	{
		name: "one signer where two are required",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			signedModel(t, e, repo)
			p := e.policy(t, "version: 1\nscopes:\n  - scope: \"HOST/**\"\n    threshold: 2\n    signers: [{name: release, key: RELEASE_PUB}, {name: other, key: OTHER_PUB}]\n")
			return []string{"pull", e.ref(repo), "--policy", p}
		},
		want: []string{"not trusted", "signed by 1 of the 2 trusted signers required"},
	},
	{
		name: "10,000 referrers",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			signedModel(t, e, repo)
			host, requests := manyReferrers(t, e, 10000)
			t.Cleanup(func() {
				// Bounded work: the listing is refused as it arrives; not
				// one of the 10,000 is fetched.
				if n := requests.Load(); n > 20 {
					t.Errorf("the pull made %d requests to a registry listing 10,000 referrers", n)
				}
			})
			return []string{"pull", host + "/" + repo + ":v1", "--key", e.releasePub}
		},
		want: []string{"more than 1000 referrers"},
	},
	// The paths.
	{
		name: "path escapes with ..",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo, rawAt(t, e, repo, "sub/../../escape", "x"))
		},
		want: []string{`"sub/../../escape"`, "unsafe path"},
	},
	{
		name: "absolute path",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo, rawAt(t, e, repo, "/etc/evil", "x"))
		},
		want: []string{`"/etc/evil"`, "absolute"},
	},
	{
		name: "Windows drive letter",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo, rawAt(t, e, repo, `C:\evil`, "x"))
		},
		want: []string{`C:\\evil`, "unsafe path"},
	},
	{
		name: "two layers, one path",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo, rawAt(t, e, repo, "model.bin", "a"), rawAt(t, e, repo, "model.bin", "b"))
		},
		want: []string{`"model.bin"`, "named by two layers"},
	},
	{
		name: "a file where a directory is",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo, rawAt(t, e, repo, "tokenizer", "a"), rawAt(t, e, repo, "tokenizer/vocab.txt", "b"))
		},
		want: []string{`"tokenizer"`, "is a file"},
	},
	{
		name: "a raw file path ending in a slash",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo, rawAt(t, e, repo, "weights/", "a"))
		},
		want: []string{`"weights/"`, "ends in a slash"},
	},
	{
		name: "tar entry outside its layer's path",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo,
				tarAt(t, e, repo, "tokenizer", tar.Header{Name: "tokenizer/vocab.txt", Typeflag: tar.TypeReg}, tar.Header{Name: "model.safetensors", Typeflag: tar.TypeReg}))
		},
		want: []string{`"model.safetensors"`, "outside the layer's path"},
	},
	{
		name: "tar entry escaping with ..",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo, tarAt(t, e, repo, "weights", tar.Header{Name: "weights/../../escape", Typeflag: tar.TypeReg}))
		},
		want: []string{`"weights/../../escape"`, "unsafe path"},
	},
	{
		name: "tar symlink",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo, tarAt(t, e, repo, "weights", tar.Header{Name: "weights/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}))
		},
		want: []string{`"weights/link"`, "only regular files and directories"},
	},
	{
		name: "tar device",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			return crafted(t, e, repo, tarAt(t, e, repo, "weights", tar.Header{Name: "weights/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}))
		},
		want: []string{`"weights/null"`, "only regular files and directories"},
	},
	{
		name: "names differing only in case (--portable-names)",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			pushModel(t, tamperModel(t, repo, map[string]string{"README.md": "a", "readme.md": "b"}), e.ref(repo), e.releaseKey)
			return append(pullSigned(e, repo), "--portable-names")
		},
		want: []string{`"README.md"`, `"readme.md"`, "ignores case"},
	},
	{
		name: "names differing only in Unicode normalisation (--portable-names)",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			pushModel(t, tamperModel(t, repo, map[string]string{"caf\u00e9.txt": "a", "cafe\u0301.txt": "b"}), e.ref(repo), e.releaseKey)
			return append(pullSigned(e, repo), "--portable-names")
		},
		want: []string{"caf\u00e9.txt", "cafe\u0301.txt", "Unicode normalisation"},
	},
	// Promotion.
	{
		name: "copy refused at the destination",
		prepare: func(t *testing.T, e *tamperEnv, repo string) []string {
			signedModel(t, e, repo)
			p := e.policy(t, "version: 1\nscopes:\n  - scope: \"HOST/**\"\n    signers: [{name: release, key: RELEASE_PUB}]\n  - scope: \"HOST/"+repo+"-prod\"\n    reject: true\n")
			return []string{"copy", e.ref(repo), e.ref(repo + "-prod"), "--policy", p}
		},
		want: []string{"rejects"},
		after: func(t *testing.T, e *tamperEnv, repo string) {
			resp, err := http.Head(e.r.URL("/v2/" + repo + "-prod/manifests/v1"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("the refused copy left its destination tag: HEAD answered %s", resp.Status)
			}
		},
	},
}

// ---------------------------------------------------------------------------
// Hostile, but nothing to refuse: the pull succeeds with the signed model,
// and what the attacker planted is neither followed nor given anything.

func TestHostileButHarmless(t *testing.T) {
	for _, rk := range ppRegistries {
		t.Run(rk.name, func(t *testing.T) {
			t.Parallel()
			r := rk.start(t)
			keys := t.TempDir()
			e := &tamperEnv{r: r, keys: keys, ref: func(repo string) string { return r.Ref(repo + ":v1") }}
			e.releaseKey, e.releasePub = keygen(t, keys, "release")
			e.otherKey, e.otherPub = keygen(t, keys, "other")
			t.Run("a signature the registry lists but no longer has", func(t *testing.T) { danglingSignature(t, e) })
			t.Run("links planted in a shared store", func(t *testing.T) { plantedStore(t, e) })
			t.Run("downloads redirected to other hosts", func(t *testing.T) { redirectedDownloads(t, e) })
		})
	}
}

// verification is the part of `vessel verify -o json` these tests read.
type verification struct {
	Verified   bool `json:"verified"`
	Signatures []struct {
		Digest        string `json:"digest"`
		PredicateType string `json:"predicateType"`
		Verified      bool   `json:"verified"`
		Error         string `json:"error"`
	} `json:"signatures"`
}

// The model is signed by two keys; one signature's manifest is gone from
// storage (a GC, a partial copy) while the registry still lists it. It is
// skipped and reported, and the other signature carries the pull.
func danglingSignature(t *testing.T, e *tamperEnv) {
	const repo = "harmless/dangling"
	signedModel(t, e, repo)
	if _, stderr, code := vessel(t, "sign", e.ref(repo), "--key", e.otherKey); code != 0 {
		t.Fatalf("sign: %s", stderr)
	}
	out, stderr, code := vessel(t, "verify", e.ref(repo), "--key", e.releasePub, "-o", "json")
	if code != 0 {
		t.Fatalf("verify: exit %d: %s", code, stderr)
	}
	var v verification
	ppDecode(t, "vessel verify -o json", out, &v)
	gone := ""
	for _, s := range v.Signatures {
		if s.Verified && s.PredicateType == "https://sigstore.dev/cosign/sign/v1" {
			gone = s.Digest
		}
	}
	if gone == "" {
		t.Fatalf("no verified release signature in %s", out)
	}
	if err := os.Remove(e.r.BlobPath(repo, gone)); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = vessel(t, "verify", e.ref(repo), "--key", e.releasePub, "--key", e.otherPub, "-o", "json")
	if code != 0 {
		t.Fatalf("verify with one signature gone: exit %d: %s", code, stderr)
	}
	ppDecode(t, "vessel verify -o json", out, &v)
	reported := false
	for _, s := range v.Signatures {
		reported = reported || s.Digest == gone && !s.Verified && s.Error != ""
	}
	if !v.Verified || !reported {
		t.Errorf("verify should pass on the other signature and report %s as refused:\n%s", gone, out)
	}
	dest := filepath.Join(t.TempDir(), "m")
	if _, stderr, code := vessel(t, "pull", e.ref(repo), dest, "--key", e.otherPub, "-q"); code != 0 {
		t.Fatalf("pull: exit %d: %s", code, stderr)
	}
}

// Whoever can write a shared --cache-dir plants a link at a blob's name
// (to a file of theirs holding the very bytes) and at its partial
// download (to a file of the victim's). The pull places a regular file of
// its own, and neither target is linked, written or changed.
func plantedStore(t *testing.T, e *tamperEnv) {
	const repo = "harmless/store"
	dir := tamperModel(t, repo, nil)
	_, files := pushModel(t, dir, e.ref(repo), e.releaseKey)
	weights := strings.TrimPrefix(files["model.safetensors"], "sha256:")
	planted := t.TempDir()
	theirs, victim := filepath.Join(planted, "theirs"), filepath.Join(planted, "victim")
	data, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, planted, map[string]string{"theirs": string(data), "victim": "precious\n"})
	before := snapshotTree(t, planted)
	store := filepath.Join(t.TempDir(), "store")
	for _, d := range []string{"blobs/sha256", "partial"} {
		if err := os.MkdirAll(filepath.Join(store, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(theirs, filepath.Join(store, "blobs", "sha256", weights)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sha256-" + weights, "sha256-" + weights + ".json", "sha256-" + weights + ".lock"} {
		if err := os.Symlink(victim, filepath.Join(store, "partial", name)); err != nil {
			t.Fatal(err)
		}
	}
	dest := filepath.Join(t.TempDir(), "m")
	if _, stderr, code := vessel(t, "pull", e.ref(repo), dest, "--key", e.releasePub, "--cache-dir", store, "-q"); code != 0 {
		t.Fatalf("pull: exit %d: %s", code, stderr)
	}
	ppAssertSameTree(t, dest, dir)
	got, err := os.Lstat(filepath.Join(dest, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	their, err := os.Stat(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Mode().IsRegular() || os.SameFile(got, their) {
		t.Errorf("the pulled weights are %v, the planted file's: %v", got.Mode(), os.SameFile(got, their))
	}
	assertTreeUnchanged(t, planted, before)
	assertStoreClean(t, store)
}

// The registry needs a login and redirects every blob download to storage
// elsewhere, as Distribution does to S3: one on another host name, one on
// another port of the same host. The pull gets the model, and the
// registry's credentials never reach the storage.
func redirectedDownloads(t *testing.T, e *tamperEnv) {
	const repo = "harmless/redirect"
	target, err := url.Parse("http://" + e.r.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var seen []string // Authorization headers the storage got
	var mu sync.Mutex
	storage := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			seen = append(seen, req.Header.Get("Authorization"))
			mu.Unlock()
			proxy.ServeHTTP(w, req)
		}))
		t.Cleanup(s.Close)
		return s
	}
	otherHost := strings.Replace(storage().URL, "127.0.0.1", "localhost", 1)
	otherPort := storage().URL
	var redirects atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			to := otherHost
			if redirects.Add(1)%2 == 0 {
				to = otherPort
			}
			http.Redirect(w, req, to+req.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)
	host := strings.TrimPrefix(front.URL, "http://")
	if _, stderr, code := runCmd(t, cmdOpts{Stdin: "s3cret\n"}, vesselBin, "login", host, "-u", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("login: %s", stderr)
	}
	dir := tamperModel(t, repo, nil)
	ref := host + "/" + repo + ":v1"
	pushModel(t, dir, ref, e.releaseKey)
	dest := filepath.Join(t.TempDir(), "m")
	if _, stderr, code := vessel(t, "pull", ref, dest, "--key", e.releasePub, "-q"); code != 0 {
		t.Fatalf("pull through redirects: exit %d: %s", code, stderr)
	}
	ppAssertSameTree(t, dest, dir)
	mu.Lock()
	defer mu.Unlock()
	if redirects.Load() < 2 || len(seen) < 2 {
		t.Fatalf("%d redirects, %d requests at the storage: the test did not redirect", redirects.Load(), len(seen))
	}
	for i, a := range seen {
		if a != "" {
			t.Errorf("storage request %d carried the registry's credentials: %q", i, a)
		}
	}
}
