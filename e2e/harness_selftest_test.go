//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// registryKinds are the registries every e2e scenario should run against.
var registryKinds = []struct {
	name  string
	start func(testing.TB) *Registry
}{
	{"distribution", startDistribution},
	{"vessel-registry", startVesselRegistry},
	{"vessel-registry-no-referrers", startVesselRegistryNoReferrers},
}

// TestHarnessRegistries checks the harness against each registry kind using
// oras only: a push/pull round trip, that BlobPath is the very file the
// registry serves, and that ReferrersAPI tells the truth.
func TestHarnessRegistries(t *testing.T) {
	for _, kind := range registryKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			r := kind.start(t)

			const repo = "selftest/hello"
			content := "hello from the vessel e2e harness\n"
			src := t.TempDir()
			writeFiles(t, src, map[string]string{"hello.txt": content})
			srcBefore := snapshotTree(t, src)

			// Push from src so that oras stores the relative name.
			ref := r.Ref(repo + ":v1")
			if _, _, code := runCmd(t, cmdOpts{Dir: src}, orasBin, "push", "--plain-http", ref, "hello.txt:text/plain"); code != 0 {
				t.Fatalf("oras push %s: exit %d", ref, code)
			}
			assertTreeUnchanged(t, src, srcBefore)

			out := filepath.Join(t.TempDir(), "out")
			if _, _, code := runTool(t, orasBin, "pull", "--plain-http", "-o", out, ref); code != 0 {
				t.Fatalf("oras pull %s: exit %d", ref, code)
			}
			if got, want := hashTree(t, out), hashTree(t, src); !maps.Equal(got, want) {
				t.Fatalf("pulled tree %v, want %v", got, want)
			}
			got, err := os.ReadFile(filepath.Join(out, "hello.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != content {
				t.Fatalf("pulled hello.txt = %q, want %q", got, content)
			}

			// BlobPath points at the stored blob...
			sum := sha256.Sum256([]byte(content))
			digest := "sha256:" + hex.EncodeToString(sum[:])
			blobPath := r.BlobPath(repo, digest)
			stored, err := os.ReadFile(blobPath)
			if err != nil {
				t.Fatalf("BlobPath(%s) on %s: %v", digest, r.Kind, err)
			}
			if string(stored) != content {
				t.Fatalf("%s holds %q, want %q", blobPath, stored, content)
			}

			// ...and the registry serves that file: flip one byte (same
			// size, so no size check can catch it) and a verifying client
			// must refuse the blob.
			corrupt := []byte(content)
			corrupt[0] ^= 0x20
			if err := os.WriteFile(blobPath, corrupt, 0o644); err != nil {
				t.Fatal(err)
			}
			out2 := filepath.Join(t.TempDir(), "out2")
			_, stderr, code := runTool(t, orasBin, "pull", "--plain-http", "-o", out2, ref)
			if code == 0 {
				t.Fatalf("oras pull %s succeeded after corrupting %s: BlobPath is not the served file", ref, blobPath)
			}
			// oras says "mismatched digest"; any other failure would not
			// prove anything about BlobPath.
			if !strings.Contains(stderr, "digest") {
				t.Fatalf("oras pull %s after corrupting %s failed for another reason than the digest: %s", ref, blobPath, stderr)
			}

			// ReferrersAPI matches the server.
			manifestDigest := headManifest(t, r, repo, "v1")
			resp, err := http.Get(r.URL("/v2/" + repo + "/referrers/" + manifestDigest))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			t.Logf("GET referrers on %s: %s", r.Kind, resp.Status)
			if served := resp.StatusCode == http.StatusOK; served != r.ReferrersAPI {
				t.Fatalf("%s: GET referrers answered %s, but ReferrersAPI = %v", r.Kind, resp.Status, r.ReferrersAPI)
			}
		})
	}
}

// headManifest returns the digest of repo:tag from a HEAD request.
func headManifest(t *testing.T, r *Registry, repo, tag string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, r.URL("/v2/"+repo+"/manifests/"+tag), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("HEAD %s:%s on %s: %s, Docker-Content-Digest %q", repo, tag, r.Kind, resp.Status, d)
	}
	return d
}

// recordingTB records Errorf calls instead of failing, to check that the
// assertion helpers do fail when they should.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestHarnessTreeHelpers checks that the tree assertions notice changes.
func TestHarnessTreeHelpers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "aaa", "sub/b.bin": "bbb"})

	want := map[string]string{
		"a.txt":     hex256("aaa"),
		"sub/b.bin": hex256("bbb"),
	}
	if got := hashTree(t, dir); !maps.Equal(got, want) {
		t.Fatalf("hashTree = %v, want %v", got, want)
	}

	before := snapshotTree(t, dir)
	assertTreeUnchanged(t, dir, before)

	// Same size, different bytes.
	rec := &recordingTB{TB: t}
	writeFiles(t, dir, map[string]string{"a.txt": "AAA"})
	assertTreeUnchanged(rec, dir, before)
	if len(rec.errors) != 1 {
		t.Fatalf("assertTreeUnchanged after rewriting a.txt: %d errors %q, want 1", len(rec.errors), rec.errors)
	}

	// An added file.
	before = snapshotTree(t, dir)
	rec = &recordingTB{TB: t}
	writeFiles(t, dir, map[string]string{"sub/new": ""})
	assertTreeUnchanged(rec, dir, before)
	if len(rec.errors) != 1 {
		t.Fatalf("assertTreeUnchanged after adding sub/new: %d errors %q, want 1", len(rec.errors), rec.errors)
	}

	// A directory that did not exist and still does not.
	missing := filepath.Join(t.TempDir(), "missing")
	assertTreeUnchanged(t, missing, snapshotTree(t, missing))
	assertNoEntries(t, missing)
	assertNoEntries(t, t.TempDir())
	rec = &recordingTB{TB: t}
	assertNoEntries(rec, dir)
	if len(rec.errors) != 1 {
		t.Fatalf("assertNoEntries on a non-empty dir: %d errors, want 1", len(rec.errors))
	}
}

// TestHarnessEnv checks that child processes never see the user's HOME or
// registry credentials.
func TestHarnessEnv(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", "/nonexistent/user/docker")
	t.Setenv("REGISTRY_AUTH_FILE", "/nonexistent/user/auth.json")
	home := testHome(t)
	env := map[string]string{}
	for _, kv := range testEnv(t) {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := env[k]; dup {
			t.Errorf("testEnv sets %s twice", k)
		}
		env[k] = v
	}
	if env["HOME"] != home {
		t.Errorf("HOME = %q, want %q", env["HOME"], home)
	}
	if want := filepath.Join(home, ".docker"); env["DOCKER_CONFIG"] != want {
		t.Errorf("DOCKER_CONFIG = %q, want %q", env["DOCKER_CONFIG"], want)
	}
	if v, ok := env["REGISTRY_AUTH_FILE"]; ok {
		t.Errorf("REGISTRY_AUTH_FILE leaked into the child environment: %q", v)
	}
	if testHome(t) != home {
		t.Errorf("testHome changed between calls in one test")
	}
}

func hex256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
