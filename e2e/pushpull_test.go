//go:build e2e

package e2e

// Push/pull end-to-end tests (issue 2): round trips on every backend,
// interoperability with oras in both directions, ModelPack artifacts made
// by another tool, tampered blobs, path escapes, destination rules and CLI
// usage errors.
//
// Signatures are covered by sign_test.go: every pull here uses
// --insecure-skip-verify, which still checks every file digest.
//
// Helpers and types in this file are prefixed with "pp" so that they do not
// collide with those of the other e2e files.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Media types of the ModelPack spec (github.com/modelpack/model-spec,
// specs-go/v1), spelled out so that the tests do not depend on vessel's
// own constants.
const (
	ppArtifactType    = "application/vnd.cncf.model.manifest.v1+json"
	ppConfigType      = "application/vnd.cncf.model.config.v1+json"
	ppWeightRaw       = "application/vnd.cncf.model.weight.v1.raw"
	ppWeightTar       = "application/vnd.cncf.model.weight.v1.tar"
	ppWeightConfigRaw = "application/vnd.cncf.model.weight.config.v1.raw"
	ppWeightConfigTgz = "application/vnd.cncf.model.weight.config.v1.tar+gzip"
	ppDocRaw          = "application/vnd.cncf.model.doc.v1.raw"
	ppFilepathAnnot   = "org.cncf.model.filepath"
	ppOCIManifestType = "application/vnd.oci.image.manifest.v1+json"
)

// ppSampleMediaTypes is the layer media type vessel gives each file of
// hack/sample-model, by role from its name (README: "typed by role").
var ppSampleMediaTypes = map[string]string{
	"LICENSE":                ppDocRaw,
	"README.md":              ppDocRaw,
	"config.json":            ppWeightConfigRaw,
	"generation_config.json": ppWeightConfigRaw,
	"model.safetensors":      ppWeightRaw,
	"tokenizer.json":         ppWeightConfigRaw,
	"tokenizer/merges.txt":   ppWeightConfigRaw,
	"tokenizer_config.json":  ppWeightConfigRaw,
}

// ---------------------------------------------------------------------------
// Backends

// ppStore is somewhere vessel can push to and pull from.
type ppStore struct {
	kind string
	// ref returns the vessel reference of repo:tag.
	ref func(repo, tag string) string
	// blobPath returns the file holding a blob of repo, to corrupt it.
	blobPath func(repo, digest string) string
	// reg is the registry, nil for an OCI layout.
	reg *Registry
}

func ppRegistryStore(r *Registry) *ppStore {
	return &ppStore{
		kind:     r.Kind,
		ref:      func(repo, tag string) string { return r.Ref(repo + ":" + tag) },
		blobPath: r.BlobPath,
		reg:      r,
	}
}

// ppLayoutStore keeps each repository in its own OCI image layout directory
// under a temporary root.
func ppLayoutStore(t testing.TB) *ppStore {
	t.Helper()
	root := t.TempDir()
	if strings.Contains(root, ":") {
		t.Fatalf("temp dir %q contains a colon: it cannot be used in an oci: reference", root)
	}
	layout := func(repo string) string { return filepath.Join(root, filepath.FromSlash(repo)) }
	return &ppStore{
		kind: "oci-layout",
		ref:  func(repo, tag string) string { return "oci:" + layout(repo) + ":" + tag },
		blobPath: func(repo, digest string) string {
			alg, enc, _ := strings.Cut(digest, ":")
			return filepath.Join(layout(repo), "blobs", alg, enc)
		},
	}
}

// ppBackends are the three kinds of store of the conformance tests: a
// registry with the referrers API, one without, and an OCI layout.
var ppBackends = []struct {
	name  string
	start func(testing.TB) *ppStore
}{
	{"vessel-registry", func(t testing.TB) *ppStore { return ppRegistryStore(startVesselRegistry(t)) }},
	{"distribution", func(t testing.TB) *ppStore { return ppRegistryStore(startDistribution(t)) }},
	{"oci-layout", ppLayoutStore},
}

// ppRegistries are the registry processes of the interoperability tests.
var ppRegistries = []struct {
	name  string
	start func(testing.TB) *Registry
}{
	{"vessel-registry", startVesselRegistry},
	{"distribution", startDistribution},
}

// ---------------------------------------------------------------------------
// vessel's JSON output

type ppFile struct {
	Path      string `json:"path"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
	Sent      bool   `json:"sent"`
}

type ppPushResult struct {
	Reference string   `json:"reference"`
	Tag       string   `json:"tag"`
	Digest    string   `json:"digest"`
	Files     []ppFile `json:"files"`
	BytesSent *int64   `json:"bytesSent"`
}

type ppInspectResult struct {
	Reference    string   `json:"reference"`
	Digest       string   `json:"digest"`
	MediaType    string   `json:"mediaType"`
	ArtifactType string   `json:"artifactType"`
	Kind         string   `json:"kind"`
	Files        []ppFile `json:"files"`
	TotalSize    int64    `json:"totalSize"`
}

type ppPullResult struct {
	Digest      string   `json:"digest"`
	Kind        string   `json:"kind"`
	Destination string   `json:"destination"`
	Files       []ppFile `json:"files"`
}

// ppDecode decodes stdout, which must hold exactly one JSON value, into v.
// Fields v does not know are ignored: adding output is not a regression.
func ppDecode(t testing.TB, what, stdout string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: stdout is not the expected JSON: %v\n%s", what, err, stdout)
	}
	if dec.More() {
		t.Fatalf("%s: stdout has more than one JSON value:\n%s", what, stdout)
	}
}

// ---------------------------------------------------------------------------
// Running vessel

// ppPush pushes dir to ref with -o json and returns the decoded result.
func ppPush(t testing.TB, dir, ref string) ppPushResult {
	t.Helper()
	stdout, stderr, code := runVessel(t, "push", dir, ref, "-o", "json", "-q")
	if code != 0 {
		t.Fatalf("vessel push %s %s: exit %d: %s", dir, ref, code, stderr)
	}
	var res ppPushResult
	ppDecode(t, "vessel push -o json", stdout, &res)
	if !strings.HasPrefix(res.Digest, "sha256:") || !sha256HexRE.MatchString(strings.TrimPrefix(res.Digest, "sha256:")) {
		t.Fatalf("vessel push %s: digest %q is not a sha256 digest", ref, res.Digest)
	}
	return res
}

// ppPull pulls ref into dest (unverified signatures, verified digests) and
// fails the test unless it succeeds.
func ppPull(t testing.TB, ref, dest string, extra ...string) ppPullResult {
	t.Helper()
	args := append([]string{"pull", ref, dest, "--insecure-skip-verify", "-o", "json", "-q"}, extra...)
	stdout, stderr, code := runVessel(t, args...)
	if code != 0 {
		t.Fatalf("vessel pull %s %s: exit %d: %s", ref, dest, code, stderr)
	}
	var res ppPullResult
	ppDecode(t, "vessel pull -o json", stdout, &res)
	return res
}

// ppPullFails pulls ref into dest, wants exit code want, and returns stderr.
func ppPullFails(t testing.TB, ref, dest string, want int, extra ...string) string {
	t.Helper()
	args := append([]string{"pull", ref, dest, "--insecure-skip-verify", "-q"}, extra...)
	_, stderr, code := runVessel(t, args...)
	if code != want {
		t.Fatalf("vessel pull %s %s: exit %d, want %d; stderr:\n%s", ref, dest, code, want, stderr)
	}
	return stderr
}

// ---------------------------------------------------------------------------
// Files

func ppSampleModel() string {
	return filepath.Join(repoRoot, "hack", "sample-model")
}

// ppSourceFiles describes every regular file under dir as vessel should:
// path -> path, sha256 digest and size (no media type).
func ppSourceFiles(t testing.TB, dir string) map[string]ppFile {
	t.Helper()
	out := map[string]ppFile{}
	for p, sum := range hashTree(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		out[p] = ppFile{Path: p, Digest: "sha256:" + sum, Size: fi.Size()}
	}
	return out
}

// ppCheckFiles compares files as listed by vessel (what says which command)
// with the source files and, when mediaTypes is not nil, their media types.
func ppCheckFiles(t testing.TB, what string, got []ppFile, want map[string]ppFile, mediaTypes map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range got {
		if seen[f.Path] {
			t.Errorf("%s lists %s twice", what, f.Path)
		}
		seen[f.Path] = true
		w, ok := want[f.Path]
		if !ok {
			t.Errorf("%s lists %s, which is not in the source", what, f.Path)
			continue
		}
		if f.Digest != w.Digest || f.Size != w.Size {
			t.Errorf("%s: %s is %s (%d bytes), want %s (%d bytes)", what, f.Path, f.Digest, f.Size, w.Digest, w.Size)
		}
		if mediaTypes != nil && f.MediaType != mediaTypes[f.Path] {
			t.Errorf("%s: %s has media type %q, want %q", what, f.Path, f.MediaType, mediaTypes[f.Path])
		}
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("%s does not list %s", what, p)
		}
	}
}

// ppAssertSameTree fails unless got holds exactly the regular files of want,
// byte for byte, subdirectories included.
func ppAssertSameTree(t testing.TB, got, want string) {
	t.Helper()
	g, w := hashTree(t, got), hashTree(t, want)
	if len(w) == 0 {
		t.Fatalf("ppAssertSameTree: source %s has no files", want)
	}
	if !maps.Equal(g, w) {
		t.Errorf("%s differs from %s:\n  got  %v\n  want %v", got, want, g, w)
	}
}

// ppAssertMissing fails if path exists (even as a dangling symlink).
func ppAssertMissing(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (Lstat: %v), want it absent", path, err)
	}
}

// ppCopyTree copies the regular files and directories of src to dst with
// the same permissions.
func ppCopyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, b, 0o600); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: not a regular file or directory", p)
		}
		return os.Chmod(target, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

func ppSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func ppWriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func ppMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ppTarEntry is one entry of a tar made by ppTar: a directory when its name
// ends in "/", else a regular file.
type ppTarEntry struct {
	name, content string
}

// ppTar returns a tar stream of entries, in order, with fixed metadata.
func ppTar(t testing.TB, entries ...ppTarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, ModTime: mtime, Format: tar.FormatPAX}
		if strings.HasSuffix(e.name, "/") {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		} else {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, int64(len(e.content))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ppGzip(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ppModelConfig is a small valid ModelPack config (model-spec v1 "Model")
// listing diffIDs, the digests of the uncompressed layers, in layer order.
func ppModelConfig(t testing.TB, diffIDs ...string) []byte {
	t.Helper()
	return ppMarshal(t, map[string]any{
		"descriptor": map[string]any{
			"name":      "tiny-e2e",
			"version":   "1.0",
			"family":    "tiny",
			"createdAt": "2025-01-01T00:00:00Z",
			"licenses":  []string{"Apache-2.0"},
		},
		"config": map[string]any{
			"architecture": "transformer",
			"format":       "safetensors",
			"paramSize":    "1k",
			"precision":    "fp16",
		},
		"modelfs": map[string]any{
			"type":    "layers",
			"diffIds": diffIDs,
		},
	})
}

// ---------------------------------------------------------------------------
// Pushing by hand, with the registry API

type ppDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ppManifest struct {
	SchemaVersion int            `json:"schemaVersion"`
	MediaType     string         `json:"mediaType"`
	ArtifactType  string         `json:"artifactType,omitempty"`
	Config        ppDescriptor   `json:"config"`
	Layers        []ppDescriptor `json:"layers"`
}

// ppUploadBlob pushes data as a blob of repo (POST then a monolithic PUT)
// and returns its descriptor with mediaType.
func ppUploadBlob(t testing.TB, r *Registry, repo, mediaType string, data []byte) ppDescriptor {
	t.Helper()
	d := ppSHA256(data)
	resp, err := http.Post(r.URL("/v2/"+repo+"/blobs/uploads/"), "", nil)
	if err != nil {
		t.Fatalf("start upload to %s: %v", r.Kind, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST blob upload on %s: %s", r.Kind, resp.Status)
	}
	loc, err := url.Parse(r.URL("/"))
	if err == nil {
		loc, err = loc.Parse(resp.Header.Get("Location"))
	}
	if err != nil {
		t.Fatalf("upload location %q: %v", resp.Header.Get("Location"), err)
	}
	q := loc.Query()
	q.Set("digest", d)
	loc.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT blob on %s: %v", r.Kind, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT blob %s on %s: %s", d, r.Kind, resp.Status)
	}
	return ppDescriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

// ppPutManifest pushes m as repo:tag.
func ppPutManifest(t testing.TB, r *Registry, repo, tag string, m ppManifest) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, r.URL("/v2/"+repo+"/manifests/"+tag), bytes.NewReader(ppMarshal(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ppOCIManifestType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT manifest on %s: %v", r.Kind, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest %s:%s on %s: %s\n%s", repo, tag, r.Kind, resp.Status, body)
	}
}

// ---------------------------------------------------------------------------
// Tests

// TestPushPullRoundTrip pushes the sample model to every backend, inspects
// it, pulls it back, and checks that pushes are idempotent and reproducible.
func TestPushPullRoundTrip(t *testing.T) {
	for _, b := range ppBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.start(t)
			src := ppSampleModel()
			want := ppSourceFiles(t, src)
			if _, ok := want["tokenizer/merges.txt"]; !ok {
				t.Fatalf("%s has no tokenizer/merges.txt: the round trip would not cover subdirectories", src)
			}
			ref := s.ref("models/sample", "v1")

			push := ppPush(t, src, ref)
			if push.Tag != "v1" {
				t.Errorf("push: tag %q, want v1", push.Tag)
			}
			if !strings.HasSuffix(push.Reference, "@"+push.Digest) {
				t.Errorf("push: reference %q does not end in @%s", push.Reference, push.Digest)
			}
			if s.reg != nil {
				if d := headManifest(t, s.reg, "models/sample", "v1"); d != push.Digest {
					t.Errorf("push printed digest %s, but %s serves v1 as %s", push.Digest, s.kind, d)
				}
			}
			ppCheckFiles(t, "push -o json", push.Files, want, ppSampleMediaTypes)
			var total int64
			for _, f := range push.Files {
				total += f.Size
				if !f.Sent {
					t.Errorf("first push to an empty %s: %s not sent", s.kind, f.Path)
				}
			}
			if push.BytesSent == nil || *push.BytesSent != total {
				t.Errorf("first push: bytesSent %v, want %d (every file)", push.BytesSent, total)
			}

			stdout, stderr, code := runVessel(t, "inspect", ref, "-o", "json")
			if code != 0 {
				t.Fatalf("vessel inspect %s: exit %d: %s", ref, code, stderr)
			}
			var insp ppInspectResult
			ppDecode(t, "vessel inspect -o json", stdout, &insp)
			if insp.Digest != push.Digest {
				t.Errorf("inspect: digest %s, want the pushed %s", insp.Digest, push.Digest)
			}
			if insp.ArtifactType != ppArtifactType || insp.MediaType != ppOCIManifestType || insp.Kind != "modelpack" {
				t.Errorf("inspect: artifactType %q, mediaType %q, kind %q; want %q, %q, modelpack",
					insp.ArtifactType, insp.MediaType, insp.Kind, ppArtifactType, ppOCIManifestType)
			}
			ppCheckFiles(t, "inspect -o json", insp.Files, want, ppSampleMediaTypes)
			if insp.TotalSize != total {
				t.Errorf("inspect: totalSize %d, want %d", insp.TotalSize, total)
			}

			dest := filepath.Join(t.TempDir(), "model")
			pull := ppPull(t, ref, dest)
			ppAssertSameTree(t, dest, src)
			if pull.Digest != push.Digest || pull.Kind != "modelpack" {
				t.Errorf("pull: digest %s kind %q, want %s modelpack", pull.Digest, pull.Kind, push.Digest)
			}
			if pull.Destination != dest {
				t.Errorf("pull: destination %q, want %q", pull.Destination, dest)
			}
			ppCheckFiles(t, "pull -o json", pull.Files, want, ppSampleMediaTypes)

			// Pushing the same directory again: same manifest, nothing sent.
			again := ppPush(t, src, ref)
			if again.Digest != push.Digest {
				t.Errorf("re-push: digest %s, want %s", again.Digest, push.Digest)
			}
			if again.BytesSent == nil || *again.BytesSent != 0 {
				t.Errorf("re-push: bytesSent %v, want 0", again.BytesSent)
			}
			for _, f := range again.Files {
				if f.Sent {
					t.Errorf("re-push: %s sent again", f.Path)
				}
			}

			// A byte-identical copy elsewhere (other path, other mtimes)
			// packs to the same manifest.
			cp := filepath.Join(t.TempDir(), "elsewhere", "copy-of-model")
			ppCopyTree(t, src, cp)
			ppAssertSameTree(t, cp, src)
			copied := ppPush(t, cp, s.ref("models/copy", "v1"))
			if copied.Digest != push.Digest {
				t.Errorf("push of a copy at %s: digest %s, want %s (not reproducible)", cp, copied.Digest, push.Digest)
			}
		})
	}
}

// TestOrasPullsVesselArtifact checks that oras, a generic OCI client, reads
// what vessel pushes: the same manifest and the same files, subdirectories
// included.
func TestOrasPullsVesselArtifact(t *testing.T) {
	for _, rk := range ppRegistries {
		t.Run(rk.name, func(t *testing.T) {
			t.Parallel()
			r := rk.start(t)
			src := ppSampleModel()
			ref := r.Ref("models/sample:v1")
			push := ppPush(t, src, ref)

			out := filepath.Join(t.TempDir(), "oras-out")
			if _, stderr, code := runTool(t, orasBin, "pull", "--plain-http", "-o", out, ref); code != 0 {
				t.Fatalf("oras pull %s: exit %d: %s", ref, code, stderr)
			}
			ppAssertSameTree(t, out, src)

			stdout, stderr, code := runTool(t, orasBin, "manifest", "fetch", "--plain-http", ref)
			if code != 0 {
				t.Fatalf("oras manifest fetch %s: exit %d: %s", ref, code, stderr)
			}
			if got := ppSHA256([]byte(stdout)); got != push.Digest {
				t.Errorf("oras manifest fetch: bytes hash to %s, vessel pushed %s", got, push.Digest)
			}
			var m ppManifest
			if err := json.Unmarshal([]byte(stdout), &m); err != nil {
				t.Fatalf("oras manifest fetch: %v\n%s", err, stdout)
			}
			if m.ArtifactType != ppArtifactType || m.Config.MediaType != ppConfigType || m.MediaType != ppOCIManifestType {
				t.Errorf("manifest: artifactType %q config %q mediaType %q; want %q, %q, %q",
					m.ArtifactType, m.Config.MediaType, m.MediaType, ppArtifactType, ppConfigType, ppOCIManifestType)
			}
			if len(m.Layers) != len(ppSampleMediaTypes) {
				t.Errorf("manifest has %d layers, want one per file (%d)", len(m.Layers), len(ppSampleMediaTypes))
			}
		})
	}
}

// TestVesselPullsForeignArtifacts pulls artifacts pushed by oras: a
// ModelPack model built by hand (a tar+gzip layer for a subdirectory, a raw
// weight, a ModelPack config with diff IDs) and a plain ORAS file artifact.
func TestVesselPullsForeignArtifacts(t *testing.T) {
	for _, rk := range ppRegistries {
		t.Run(rk.name, func(t *testing.T) {
			t.Parallel()
			r := rk.start(t)

			// The model as it should come out.
			src := filepath.Join(t.TempDir(), "model")
			vocab := `{"hello": 0, "world": 1}` + "\n"
			merges := "#version: 0.2\nh e\nw o\n"
			weights := bytes.Repeat([]byte{0x00, 0x3c, 0xff, 0x7f}, 1024)
			writeFiles(t, src, map[string]string{
				"tokenizer/vocab.json": vocab,
				"tokenizer/merges.txt": merges,
				"model.bin":            string(weights),
			})

			// The layers as another tool would make them: entries of the
			// tar are relative to the model root.
			work := t.TempDir()
			tarball := ppTar(t,
				ppTarEntry{name: "tokenizer/"},
				ppTarEntry{name: "tokenizer/merges.txt", content: merges},
				ppTarEntry{name: "tokenizer/vocab.json", content: vocab},
			)
			tgz := ppGzip(t, tarball)
			ppWriteFile(t, filepath.Join(work, "tok.tar.gz"), tgz)
			ppWriteFile(t, filepath.Join(work, "w.bin"), weights)
			ppWriteFile(t, filepath.Join(work, "cfg.json"), ppModelConfig(t, ppSHA256(tarball), ppSHA256(weights)))
			// A common mistake: the diff ID of the compressed blob.
			ppWriteFile(t, filepath.Join(work, "bad-cfg.json"), ppModelConfig(t, ppSHA256(tgz), ppSHA256(weights)))
			ppWriteFile(t, filepath.Join(work, "ann.json"), ppMarshal(t, map[string]map[string]string{
				"$manifest":  {"org.opencontainers.image.description": "built by hand with oras"},
				"tok.tar.gz": {ppFilepathAnnot: "tokenizer"},
				"w.bin":      {ppFilepathAnnot: "model.bin"},
			}))
			orasPush := func(ref, cfg string) {
				t.Helper()
				_, stderr, code := runCmd(t, cmdOpts{Dir: work}, orasBin, "push", "--plain-http",
					"--artifact-type", ppArtifactType,
					"--config", cfg+":"+ppConfigType,
					"--annotation-file", "ann.json",
					ref,
					"tok.tar.gz:"+ppWeightConfigTgz,
					"w.bin:"+ppWeightRaw)
				if code != 0 {
					t.Fatalf("oras push %s: exit %d: %s", ref, code, stderr)
				}
			}

			t.Run("modelpack", func(t *testing.T) {
				ref := r.Ref("foreign/model:v1")
				orasPush(ref, "cfg.json")
				dest := filepath.Join(t.TempDir(), "pulled")
				res := ppPull(t, ref, dest)
				ppAssertSameTree(t, dest, src)
				if res.Kind != "modelpack" {
					t.Errorf("pull: kind %q, want modelpack", res.Kind)
				}
			})

			t.Run("modelpack-compressed-diffid", func(t *testing.T) {
				// The config's diff ID for the tar+gzip layer is the digest
				// of the compressed blob, not of the tar: the uncompressed
				// content does not match what the config promises.
				ref := r.Ref("foreign/model:bad-diffid")
				orasPush(ref, "bad-cfg.json")
				parent := t.TempDir()
				before := snapshotTree(t, parent)
				stderr := ppPullFails(t, ref, filepath.Join(parent, "pulled"), 3)
				if !strings.Contains(stderr, "digest mismatch") {
					t.Errorf("stderr does not say \"digest mismatch\":\n%s", stderr)
				}
				assertTreeUnchanged(t, parent, before)
			})

			t.Run("oras-files", func(t *testing.T) {
				files := t.TempDir()
				writeFiles(t, files, map[string]string{
					"notes.txt":      "plain oras artifact\n",
					"data/rows.json": `[{"a":1},{"a":2}]` + "\n",
				})
				ref := r.Ref("foreign/files:v1")
				_, stderr, code := runCmd(t, cmdOpts{Dir: files}, orasBin, "push", "--plain-http", ref,
					"notes.txt:text/plain", "data/rows.json:application/json")
				if code != 0 {
					t.Fatalf("oras push %s: exit %d: %s", ref, code, stderr)
				}
				dest := filepath.Join(t.TempDir(), "pulled")
				res := ppPull(t, ref, dest)
				ppAssertSameTree(t, dest, files)
				if res.Kind != "oras-files" {
					t.Errorf("pull: kind %q, want oras-files", res.Kind)
				}
			})
		})
	}
}

// TestPullRefusesTamperedBlob corrupts one byte of a stored weight blob
// (same size) and checks that pull fails verification and writes nothing.
func TestPullRefusesTamperedBlob(t *testing.T) {
	for _, b := range ppBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.start(t)
			const repo = "models/tampered"
			ref := s.ref(repo, "v1")
			push := ppPush(t, ppSampleModel(), ref)
			var weight string
			for _, f := range push.Files {
				if f.Path == "model.safetensors" {
					weight = f.Digest
				}
			}
			if weight == "" {
				t.Fatalf("push lists no model.safetensors: %+v", push.Files)
			}

			blob := s.blobPath(repo, weight)
			data, err := os.ReadFile(blob)
			if err != nil {
				t.Fatalf("read the stored blob: %v", err)
			}
			if got := ppSHA256(data); got != weight {
				t.Fatalf("%s holds %s, want %s", blob, got, weight)
			}
			data[len(data)/2] ^= 0x01
			if err := os.WriteFile(blob, data, 0o644); err != nil {
				t.Fatal(err)
			}

			parent := t.TempDir()
			writeFiles(t, parent, map[string]string{"neighbour.txt": "untouched\n"})
			before := snapshotTree(t, parent)
			dest := filepath.Join(parent, "model")
			stderr := ppPullFails(t, ref, dest, 3)
			if !strings.Contains(stderr, "model.safetensors") || !strings.Contains(stderr, "digest mismatch") {
				t.Errorf("stderr should name model.safetensors and say \"digest mismatch\":\n%s", stderr)
			}
			ppAssertMissing(t, dest)
			assertTreeUnchanged(t, parent, before)
		})
	}
}

// TestPullRefusesEscapingPaths pushes, with the registry API, ModelPack
// manifests whose paths leave the destination, and checks that pull refuses
// them and writes nothing anywhere.
func TestPullRefusesEscapingPaths(t *testing.T) {
	t.Parallel()
	r := startDistribution(t)
	const repo = "evil/model"
	payload := []byte("this must never be written\n")
	raw := ppUploadBlob(t, r, repo, ppWeightRaw, payload)
	escapingTar := ppTar(t, ppTarEntry{name: "../escape", content: string(payload)})
	tarLayer := ppUploadBlob(t, r, repo, ppWeightTar, escapingTar)

	if _, err := os.Lstat("/etc/evil"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("/etc/evil already exists (%v): the absolute path case could not tell", err)
	}

	cases := []struct {
		name  string
		layer ppDescriptor
		path  string
		// offending is the path the error message must quote.
		offending string
	}{
		{"dotdot", raw, "../escape", "../escape"},
		{"dotdot-inside", raw, "sub/../../escape", "sub/../../escape"},
		{"absolute", raw, "/etc/evil", "/etc/evil"},
		{"tar-entry", tarLayer, "weights", "../escape"}, // the layer's path is fine, its tar entry is not
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			layer := c.layer
			layer.Annotations = map[string]string{ppFilepathAnnot: c.path}
			cfg := ppUploadBlob(t, r, repo, ppConfigType, ppModelConfig(t, layer.Digest))
			ppPutManifest(t, r, repo, c.name, ppManifest{
				SchemaVersion: 2,
				MediaType:     ppOCIManifestType,
				ArtifactType:  ppArtifactType,
				Config:        cfg,
				Layers:        []ppDescriptor{layer},
			})

			tmp := t.TempDir()
			a := filepath.Join(tmp, "a")
			if err := os.Mkdir(a, 0o755); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(a, "dest")
			stderr := ppPullFails(t, r.Ref(repo+":"+c.name), dest, 3)
			if !strings.Contains(stderr, c.offending) {
				t.Errorf("stderr does not name the unsafe path %q:\n%s", c.offending, stderr)
			}
			ppAssertMissing(t, dest)
			ppAssertMissing(t, filepath.Join(tmp, "escape"))
			ppAssertMissing(t, filepath.Join(a, "escape"))
			ppAssertMissing(t, "/etc/evil")
			assertNoEntries(t, a) // no staging directory left either
			entries, err := os.ReadDir(tmp)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("%s holds %d entries, want only a/", tmp, len(entries))
			}
		})
	}
}

// TestPullDestinationRules checks the CLI's rules for the destination: an
// empty directory is filled, a non-empty one is refused unless --force,
// which replaces it and leaves no staging directory.
func TestPullDestinationRules(t *testing.T) {
	t.Parallel()
	r := startVesselRegistry(t)
	src := ppSampleModel()
	ref := r.Ref("models/sample:v1")
	ppPush(t, src, ref)

	t.Run("empty-existing", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "model")
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		ppPull(t, ref, dest)
		ppAssertSameTree(t, dest, src)
	})

	t.Run("non-empty", func(t *testing.T) {
		parent := t.TempDir()
		dest := filepath.Join(parent, "model")
		writeFiles(t, dest, map[string]string{
			"old.txt":              "old\n",
			"tokenizer/merges.txt": "old merges\n",
		})
		before := snapshotTree(t, parent)
		stderr := ppPullFails(t, ref, dest, 1)
		if !strings.Contains(stderr, "--force") {
			t.Errorf("refusal should mention --force:\n%s", stderr)
		}
		assertTreeUnchanged(t, parent, before)

		ppPull(t, ref, dest, "--force")
		ppAssertSameTree(t, dest, src) // old.txt is gone, merges.txt replaced
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "model" {
				t.Errorf("%s: %s left beside the destination after --force", parent, e.Name())
			}
		}
	})
}

// TestOCILayoutInterop pushes to an OCI image layout directory and reads it
// back with oras (which knows nothing of vessel) and with vessel.
func TestOCILayoutInterop(t *testing.T) {
	t.Parallel()
	src := ppSampleModel()
	layout := filepath.Join(t.TempDir(), "store")
	push := ppPush(t, src, "oci:"+layout+":v1")

	for _, f := range []string{"oci-layout", "index.json"} {
		if _, err := os.Stat(filepath.Join(layout, f)); err != nil {
			t.Errorf("layout %s: %v", layout, err)
		}
	}

	out := filepath.Join(t.TempDir(), "oras-out")
	if _, stderr, code := runTool(t, orasBin, "pull", "--oci-layout", layout+":v1", "-o", out); code != 0 {
		t.Fatalf("oras pull --oci-layout: exit %d: %s", code, stderr)
	}
	ppAssertSameTree(t, out, src)

	dest := filepath.Join(t.TempDir(), "model")
	res := ppPull(t, "oci:"+layout+":v1", dest)
	ppAssertSameTree(t, dest, src)
	if res.Digest != push.Digest {
		t.Errorf("pull: digest %s, want %s", res.Digest, push.Digest)
	}
	// By digest too.
	dest2 := filepath.Join(t.TempDir(), "model")
	ppPull(t, "oci:"+layout+"@"+push.Digest, dest2)
	ppAssertSameTree(t, dest2, src)
}

// TestPullUsage checks usage errors (exit 2): wrong arguments, and a pull
// with no trust configured, which must point at --insecure-skip-verify and
// must not write anything.
func TestPullUsage(t *testing.T) {
	t.Parallel()
	layout := filepath.Join(t.TempDir(), "store")
	ref := "oci:" + layout + ":v1"
	ppPush(t, ppSampleModel(), ref)

	for _, args := range [][]string{
		{"pull"},
		{"pull", ref},
		{"pull", "--insecure-skip-verify"},
		{"pull", ref, filepath.Join(t.TempDir(), "a"), "extra", "--insecure-skip-verify"},
	} {
		if _, stderr, code := runVessel(t, args...); code != 2 {
			t.Errorf("vessel %s: exit %d, want 2; stderr:\n%s", strings.Join(args, " "), code, stderr)
		}
	}

	parent := t.TempDir()
	before := snapshotTree(t, parent)
	dest := filepath.Join(parent, "model")
	_, stderr, code := runVessel(t, "pull", ref, dest)
	if code != 2 {
		t.Errorf("vessel pull with no trust: exit %d, want 2", code)
	}
	if !strings.Contains(stderr, "--insecure-skip-verify") {
		t.Errorf("vessel pull with no trust: stderr does not name --insecure-skip-verify:\n%s", stderr)
	}
	ppAssertMissing(t, dest)
	assertTreeUnchanged(t, parent, before)

	// The refusal is not a side effect of the reference: the same pull with
	// --insecure-skip-verify works.
	ppPull(t, ref, dest)
	ppAssertSameTree(t, dest, ppSampleModel())
}
