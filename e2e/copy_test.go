//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
)

// orasReferrers lists the referrer digests oras discover reports for ref.
func orasReferrers(t *testing.T, ref string, extra ...string) []string {
	t.Helper()
	out, stderr, code := runTool(t, orasBin, append([]string{"discover", "--format", "json", ref}, extra...)...)
	if code != 0 {
		t.Fatalf("oras discover %s: %s", ref, stderr)
	}
	var d struct {
		Referrers []struct {
			Digest string `json:"digest"`
		} `json:"referrers"`
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("oras discover JSON: %v\n%s", err, out)
	}
	var ds []string
	for _, r := range d.Referrers {
		ds = append(ds, r.Digest)
	}
	for _, r := range d.Manifests {
		ds = append(ds, r.Digest)
	}
	sort.Strings(ds)
	return ds
}

func TestCopyBetweenRegistries(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	olareg, dist := startVesselRegistry(t), startDistribution(t)
	layout := filepath.Join(t.TempDir(), "outbox")
	pred := filepath.Join(keys, "eval.json")
	if err := os.WriteFile(pred, []byte(`{"accuracy":0.91}`), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := []struct{ name, src, dst string }{
		{"olareg->distribution", olareg.Ref("staging/m:v1"), dist.Ref("prod/m:v1")},
		{"distribution->olareg", dist.Ref("staging/m:v1"), olareg.Ref("prod/m:v1")},
		{"olareg->oci", olareg.Ref("staging/m:v1"), "oci:" + layout + ":v1"},
		{"oci->distribution", "oci:" + layout + ":v1", dist.Ref("final/m:v1")},
	}
	for _, reg := range []*Registry{olareg, dist} {
		ref := reg.Ref("staging/m:v1")
		digest := pushSample(t, ref, "--key", releaseKey)
		if _, stderr, code := vessel(t, "attest", ref, "--key", releaseKey, "--type", "https://example.com/eval/v1", "--predicate", pred); code != 0 {
			t.Fatalf("attest: %s", stderr)
		}
		// A classic cosign signature too, which oras cp -r would not carry.
		if _, stderr, code := cosign(t, "sign", "--key", releaseKey, "--tlog-upload=false", "--new-bundle-format=false", "--allow-http-registry", "-y", reg.Ref("staging/m@"+digest)); code != 0 {
			t.Fatalf("cosign sign: %s", stderr)
		}
	}
	for _, p := range paths {
		out, stderr, code := vessel(t, "copy", p.src, p.dst, "--key", releasePub, "-o", "json")
		if code != 0 {
			t.Fatalf("%s: copy: exit %d: %s", p.name, code, stderr)
		}
		var res struct {
			Digest      string   `json:"digest"`
			ClassicTags []string `json:"classicTags"`
			Referrers   int      `json:"referrers"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.ClassicTags) != 1 || res.Referrers < 3 {
			t.Fatalf("%s: copy result %s (%v)", p.name, out, err)
		}
		// Verified at the destination by vessel, and by cosign where it can read it.
		if _, stderr, code := vessel(t, "verify", p.dst, "--key", releasePub); code != 0 {
			t.Fatalf("%s: vessel verify at the destination: %s", p.name, stderr)
		}
		if !strings.HasPrefix(p.dst, "oci:") {
			byDigest := p.dst[:strings.LastIndex(p.dst, ":")] + "@" + res.Digest
			if stderr, code := cosignVerify(t, releasePub, byDigest); code != 0 {
				t.Fatalf("%s: cosign verify at the destination: %s", p.name, stderr)
			}
			args := []string{"verify-attestation", "--key", releasePub, "--type", "https://example.com/eval/v1", "--insecure-ignore-tlog", "--trusted-root", offlineTrustedRoot(t), "--allow-http-registry", byDigest}
			if _, stderr, code := cosign(t, args...); code != 0 {
				t.Fatalf("%s: cosign verify-attestation at the destination: %s", p.name, stderr)
			}
			srcByDigest := p.src[:strings.LastIndex(p.src, ":")] + "@" + res.Digest
			if !strings.HasPrefix(p.src, "oci:") {
				want, got := orasReferrers(t, srcByDigest, "--plain-http"), orasReferrers(t, byDigest, "--plain-http")
				if strings.Join(want, ",") != strings.Join(got, ",") {
					t.Fatalf("%s: oras discover: source %v, destination %v", p.name, want, got)
				}
			}
		}
	}
	// A tampered source: refused, and the destination tag does not exist.
	pushSample(t, dist.Ref("tampered/m:v1"), "--key", releaseKey)
	tamperSampleWeights(t, dist, "tampered/m")
	if _, _, code := vessel(t, "copy", dist.Ref("tampered/m:v1"), olareg.Ref("tampered/m:v1"), "--key", releasePub); code != 3 {
		t.Fatalf("copy of a tampered source: exit %d, want 3", code)
	}
	if _, _, code := vessel(t, "inspect", olareg.Ref("tampered/m:v1")); code == 0 {
		t.Fatal("destination tag exists after a refused copy")
	}
}

// Export to a tar, verify it with every proxy pointed at a trap, import it
// into another registry, where cosign verifies it.
func TestExportImportOffline(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	olareg, dist := startVesselRegistry(t), startDistribution(t)
	digest := pushSample(t, olareg.Ref("team/m:v1"), "--key", releaseKey)
	file := filepath.Join(t.TempDir(), "m-v1.tar")
	if _, stderr, code := vessel(t, "export", olareg.Ref("team/m:v1"), file, "--key", releasePub, "--include-trust"); code != 0 {
		t.Fatalf("export: %s", stderr)
	}

	// Any connection to the trap fails the test.
	trap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close()
	var touched atomic.Int32
	go func() {
		for {
			c, err := trap.Accept()
			if err != nil {
				return
			}
			touched.Add(1)
			c.Close()
		}
	}()
	proxy := "http://" + trap.Addr().String()
	env := append([]string{"HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy, "ALL_PROXY=" + proxy, "NO_PROXY="}, keyEnv...)
	out, stderr, code := runCmd(t, cmdOpts{Env: env}, vesselBin, "verify", "oci-archive:"+file+":v1", "--key", releasePub)
	if code != 0 || !strings.Contains(out, "Verdict    verified") {
		t.Fatalf("offline verify: exit %d\n%s%s", code, out, stderr)
	}
	dest := filepath.Join(t.TempDir(), "m")
	if _, stderr, code := runCmd(t, cmdOpts{Env: env}, vesselBin, "pull", "oci-archive:"+file+":v1", dest, "--key", releasePub, "--signature", filepath.Join(dest, "model.sig"), "-q"); code != 0 {
		t.Fatalf("offline pull: %s", stderr)
	}
	if n := touched.Load(); n != 0 {
		t.Fatalf("offline verification made %d network connections", n)
	}
	// The trust material travelled in the tar, for review.
	listing, _, _ := runTool(t, "tar", "tf", file)
	if !strings.Contains(listing, "vessel-trust/release.pub") {
		t.Fatalf("archive lacks the trust files:\n%s", listing)
	}

	if _, stderr, code := vessel(t, "import", file, dist.Ref("prod/m:v1"), "--key", releasePub); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	if stderr, code := cosignVerify(t, releasePub, dist.Ref("prod/m@"+digest)); code != 0 {
		t.Fatalf("cosign verify after import: %s", stderr)
	}
}

// A copy cut mid-blob fails without tagging the destination; the rerun
// completes, sending only what was missing.
func TestCopyResumesAfterCut(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	src, dst := startVesselRegistry(t), startDistribution(t)
	model := filepath.Join(t.TempDir(), "big")
	for i, size := range []int{3 << 20, 3 << 20, 3 << 20, 1 << 10} {
		if err := os.MkdirAll(model, 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(j*7 + i)
		}
		if err := os.WriteFile(filepath.Join(model, fmt.Sprintf("shard-%d.bin", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, code := vessel(t, "push", model, src.Ref("m:v1"), "--key", releaseKey, "-q"); code != 0 {
		t.Fatal(stderr)
	}
	proxy := startRelay(t, dst.Host)
	proxy.cutUp.Store(5 << 20) // inside the second shard
	// localhost, not 127.0.0.1: a different host string, still loopback.
	through := "localhost:" + strings.Split(proxy.ln.Addr().String(), ":")[1] + "/prod/m:v1"
	if _, _, code := vessel(t, "copy", src.Ref("m:v1"), through, "--key", releasePub, "--concurrency", "1"); code == 0 {
		t.Fatal("copy through a cutting proxy succeeded")
	}
	if _, _, code := vessel(t, "inspect", dst.Ref("prod/m:v1")); code == 0 {
		t.Fatal("destination tagged after a cut copy")
	}
	proxy.cutUp.Store(0)
	out, stderr, code := vessel(t, "copy", src.Ref("m:v1"), through, "--key", releasePub, "--concurrency", "1", "-o", "json")
	if code != 0 {
		t.Fatalf("rerun: %s", stderr)
	}
	var res struct {
		BytesCopied int64 `json:"bytesCopied"`
		Skipped     int   `json:"skipped"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// At least the first shard got through before the cut: not sent again.
	if res.Skipped == 0 || res.BytesCopied > 7<<20 {
		t.Fatalf("rerun sent %d bytes, skipped %d: not only what was missing", res.BytesCopied, res.Skipped)
	}
	if _, stderr, code := vessel(t, "verify", dst.Ref("prod/m:v1"), "--key", releasePub); code != 0 {
		t.Fatalf("verify after resume: %s", stderr)
	}
}
