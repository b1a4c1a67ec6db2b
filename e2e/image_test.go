//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// vessel's container image (make image: hack/image): built twice from the
// same commit it has the same digest; its config runs vessel as a
// non-root user; the binary in it runs; vessel signs it and verifies its
// own signature, and cosign agrees.
func TestContainerImage(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	r := startVesselRegistry(t)
	platform := "linux/" + runtime.GOARCH
	build := func(ref string) string {
		t.Helper()
		// The developer's environment, not the test's HOME: its Go build
		// and module caches.
		cmd := exec.Command("go", "run", "./hack/image",
			"-push", ref, "-platforms", platform, "-version", "v0.0.0-e2e", "-commit", "e2e", "-created", "1765000000")
		cmd.Dir = repoRoot
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		t.Logf("$ %s\n%s%s", strings.Join(cmd.Args, " "), out, stderr.String())
		if err != nil {
			t.Fatalf("hack/image: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	first := build(r.Ref("vessel/vessel:e2e"))
	second := build(r.Ref("vessel/again:e2e"))
	_, d1, _ := strings.Cut(first, "@")
	_, d2, _ := strings.Cut(second, "@")
	if d1 == "" || d1 != d2 {
		t.Fatalf("not reproducible: %s, then %s", first, second)
	}

	ref, err := name.ParseReference(first, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Platform == nil || im.Manifests[0].Platform.Architecture != runtime.GOARCH {
		t.Fatalf("index: %+v, %v", im, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || strings.Join(cf.Config.Entrypoint, " ") != "/usr/local/bin/vessel" || cf.OS != "linux" {
		t.Fatalf("image config: user %q, entrypoint %q, os %q", cf.Config.User, cf.Config.Entrypoint, cf.OS)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bin := filepath.Join(t.TempDir(), "vessel")
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("the layer has no usr/local/bin/vessel: %v", err)
		}
		if h.Name != "usr/local/bin/vessel" {
			continue
		}
		f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		f.Close()
		break
	}
	if runtime.GOOS == "linux" {
		if out, _, code := runCmd(t, cmdOpts{}, bin, "version"); code != 0 || !strings.Contains(out, "v0.0.0-e2e") {
			t.Fatalf("the image's vessel: exit %d: %s", code, out)
		}
	}

	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	_, otherPub := keygen(t, keys, "other")
	if _, stderr, code := vessel(t, "sign", first, "--key", releaseKey); code != 0 {
		t.Fatalf("sign the image: %s", stderr)
	}
	if out, stderr, code := vessel(t, "verify", r.Ref("vessel/vessel:e2e"), "--key", releasePub); code != 0 || !strings.Contains(out, "Verdict    verified") {
		t.Fatalf("verify the image: exit %d\n%s%s", code, out, stderr)
	}
	if _, _, code := vessel(t, "verify", first, "--key", otherPub); code != 3 {
		t.Fatalf("verify the image against another key: exit %d, want 3", code)
	}
	for _, c := range cosignReleases {
		if _, stderr, code := c.run(t, "verify", "--key", releasePub, "--insecure-ignore-tlog", "--trusted-root", offlineTrustedRoot(t), "--allow-http-registry", first); code != 0 {
			t.Errorf("%s verify of vessel's image signature: %s", c.name, stderr)
		}
	}
}
