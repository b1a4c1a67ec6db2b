//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A dataset of 20,000 small files (3 KiB each, in 100 directories), on
// each kind of registry: push --dataset --key packs it in tar groups (a
// manifest of about a hundred layers, well under 1 MiB) and signs every
// file; a verified pull writes every file as it was and the OpenSSF model
// signature beside them, which verify-dir accepts with no registry; a
// partial pull takes one directory; and a group with one file changed,
// under the original OpenSSF signature and a valid manifest signature, is
// refused with exit 3 naming the file.
func TestDatasetOf20000Files(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(20000, 3))
	for d := range 100 {
		dir := filepath.Join(src, "train", fmt.Sprintf("n%04d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 200 {
			b := make([]byte, 3072)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			ppWriteFile(t, filepath.Join(dir, fmt.Sprintf("%05d.bin", f)), b)
		}
	}
	ppWriteFile(t, filepath.Join(src, "README.md"), []byte("# 20,000 samples\n"))
	want := hashTree(t, src)
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")

	for _, rk := range ppRegistries {
		t.Run(rk.name, func(t *testing.T) {
			t.Parallel()
			r := rk.start(t)
			ref := r.Ref("data/ds:v1")
			out, stderr, code := vessel(t, "push", src, ref, "--dataset", "--key", releaseKey, "-o", "json", "-q")
			if code != 0 {
				t.Fatalf("push: %s", stderr)
			}
			var pushed ppPushResult
			ppDecode(t, "push -o json", out, &pushed)
			if len(pushed.Files) != len(want) {
				t.Fatalf("push lists %d files, want %d", len(pushed.Files), len(want))
			}
			manifest := fetchManifest(t, r, "data/ds", pushed.Digest)
			var m struct {
				Layers []struct {
					MediaType string `json:"mediaType"`
				} `json:"layers"`
			}
			if err := json.Unmarshal(manifest, &m); err != nil {
				t.Fatal(err)
			}
			if len(m.Layers) != 101 || len(manifest) > 64<<10 {
				t.Fatalf("manifest: %d layers, %d bytes; want 100 groups and README.md", len(m.Layers), len(manifest))
			}

			dest := filepath.Join(t.TempDir(), "ds")
			sig := filepath.Join(t.TempDir(), "model.sig")
			out, stderr, code = vessel(t, "pull", ref, dest, "--key", releasePub, "--signature", sig, "-o", "json", "-q")
			if code != 0 {
				t.Fatalf("pull: %s", stderr)
			}
			var pulled ppPullResult
			ppDecode(t, "pull -o json", out, &pulled)
			if len(pulled.Files) != len(want) {
				t.Errorf("pull lists %d files, want %d", len(pulled.Files), len(want))
			}
			got := hashTree(t, dest)
			for p, d := range want {
				if got[p] != d {
					t.Fatalf("%s: pulled %q, want %q", p, got[p], d)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("pulled %d files, want %d", len(got), len(want))
			}
			if _, stderr, code := vessel(t, "verify-dir", dest, "--signature", sig, "--key", releasePub); code != 0 {
				t.Fatalf("verify-dir of the pulled dataset: %s", stderr)
			}

			part := filepath.Join(t.TempDir(), "part")
			if _, stderr, code := vessel(t, "pull", ref, part, "--key", releasePub, "--include", "train/n0007/*", "-q"); code != 0 {
				t.Fatalf("partial pull: %s", stderr)
			}
			got = hashTree(t, part)
			if len(got) != 200 || got["train/n0007/00042.bin"] != want["train/n0007/00042.bin"] {
				t.Fatalf("partial pull wrote %d files", len(got))
			}
			// One file of a group: only its entry is fetched, by range.
			one := filepath.Join(t.TempDir(), "one")
			out, stderr, code = vessel(t, "pull", ref, one, "--key", releasePub, "--include", "train/n0031/00123.bin", "-o", "json", "-q")
			if code != 0 {
				t.Fatalf("partial pull of one file: %s", stderr)
			}
			var ranged struct {
				RangedLayers []string `json:"rangedLayers"`
			}
			ppDecode(t, "pull -o json", out, &ranged)
			got = hashTree(t, one)
			if len(got) != 1 || got["train/n0031/00123.bin"] != want["train/n0031/00123.bin"] || strings.Join(ranged.RangedLayers, ",") != "train/n0031" {
				t.Fatalf("partial pull of one file: wrote %v, read by range %q", got, ranged.RangedLayers)
			}

			// One file changed: a new manifest, signed (cosign, the
			// release key) over its layers, carrying the original OpenSSF
			// signature of the files.
			tampered := t.TempDir()
			ppCopyTree(t, src, tampered)
			victim := "train/n0042/00007.bin"
			b, err := os.ReadFile(filepath.Join(tampered, filepath.FromSlash(victim)))
			if err != nil {
				t.Fatal(err)
			}
			b[100] ^= 1
			ppWriteFile(t, filepath.Join(tampered, filepath.FromSlash(victim)), b)
			bad := r.Ref("data/ds:tampered")
			out, stderr, code = vessel(t, "push", tampered, bad, "--dataset", "-q")
			if code != 0 {
				t.Fatalf("push of the tampered dataset: %s", stderr)
			}
			badDigest := strings.TrimSpace(out)
			moveOMSSignature(t, r, "data/ds", pushed.Digest, badDigest)
			if _, stderr, code := cosignReleases[0].run(t, cosignReleases[0].keySign(t, releaseKey, r.Ref("data/ds@"+badDigest))...); code != 0 {
				t.Fatalf("cosign sign of the tampered manifest: %s", stderr)
			}
			badDest := filepath.Join(t.TempDir(), "bad")
			_, stderr, code = vessel(t, "pull", bad, badDest, "--key", releasePub, "-q")
			if code != 3 || !strings.Contains(stderr, victim) {
				t.Fatalf("pull of a group with a changed file: exit %d, want 3 naming %s:\n%s", code, victim, stderr)
			}
			if _, err := os.Stat(badDest); !os.IsNotExist(err) {
				t.Fatalf("the refused pull left %s: %v", badDest, err)
			}
			// The changed file alone, fetched by range: refused the same way.
			_, stderr, code = vessel(t, "pull", bad, badDest, "--key", releasePub, "--include", victim, "-q")
			if code != 3 || !strings.Contains(stderr, victim) {
				t.Fatalf("partial pull of the changed file: exit %d, want 3 naming %s:\n%s", code, victim, stderr)
			}
			if _, err := os.Stat(badDest); !os.IsNotExist(err) {
				t.Fatalf("the refused partial pull left %s: %v", badDest, err)
			}
		})
	}
}

// fetchManifest GETs a manifest by digest.
func fetchManifest(t *testing.T, r *Registry, repo, digest string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.URL("/v2/"+repo+"/manifests/"+digest), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s: %s %v", digest, resp.Status, err)
	}
	return b
}

// moveOMSSignature attaches the OpenSSF model signature bundle of from to
// to, with oras (referrers API or tag schema, as the registry has).
func moveOMSSignature(t *testing.T, r *Registry, repo, from, to string) {
	t.Helper()
	out, stderr, code := vessel(t, "inspect", r.Ref(repo+"@"+from), "-o", "json")
	if code != 0 {
		t.Fatalf("inspect: %s", stderr)
	}
	var in struct {
		Referrers []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"referrers"`
	}
	ppDecode(t, "inspect -o json", out, &in)
	for _, ref := range in.Referrers {
		if ref.Annotations["dev.sigstore.bundle.predicateType"] != "https://model_signing/signature/v1.0" {
			continue
		}
		var m struct {
			Layers []struct {
				Digest string `json:"digest"`
			} `json:"layers"`
		}
		if err := json.Unmarshal(fetchManifest(t, r, repo, ref.Digest), &m); err != nil || len(m.Layers) != 1 {
			t.Fatalf("the OpenSSF signature's manifest: %v", err)
		}
		dir := t.TempDir()
		bundle := filepath.Join(dir, "bundle.json")
		if _, stderr, code := runTool(t, orasBin, "blob", "fetch", "--plain-http", "--output", bundle, r.Ref(repo+"@"+m.Layers[0].Digest)); code != 0 {
			t.Fatalf("oras blob fetch: %s", stderr)
		}
		cmd := []string{"attach", "--plain-http", "--disable-path-validation", "--artifact-type", "application/vnd.dev.sigstore.bundle.v0.3+json"}
		for k, v := range ref.Annotations {
			cmd = append(cmd, "--annotation", k+"="+v)
		}
		cmd = append(cmd, r.Ref(repo+"@"+to), bundle+":application/vnd.dev.sigstore.bundle.v0.3+json")
		if _, stderr, code := runTool(t, orasBin, cmd...); code != 0 {
			t.Fatalf("oras attach: %s", stderr)
		}
		return
	}
	t.Fatalf("%s has no OpenSSF model signature", from)
}
