//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAttestationsInterop(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	_, otherPub := keygen(t, keys, "other")
	pred := filepath.Join(keys, "eval.json")
	if err := os.WriteFile(pred, []byte(`{"accuracy":0.91}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, r := range remoteRegistries(t) {
		ref := r.Ref("team/m:v1")
		digest := pushSample(t, ref)
		byDigest := r.Ref("team/m@" + digest)

		// vessel provenance -> vessel attest -> cosign verify-attestation.
		prov, stderr, code := vessel(t, "provenance", "--builder-id", "https://ci.example/runner", "--material", "base="+byDigest, ref)
		if code != 0 {
			t.Fatalf("provenance: %s", stderr)
		}
		provFile := filepath.Join(t.TempDir(), "prov.json")
		if err := os.WriteFile(provFile, []byte(prov), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, stderr, code := vessel(t, "attest", ref, "--key", releaseKey, "--type", "https://slsa.dev/provenance/v1", "--predicate", provFile); code != 0 {
			t.Fatalf("attest: %s", stderr)
		}
		args := []string{"verify-attestation", "--type", "https://slsa.dev/provenance/v1", "--insecure-ignore-tlog", "--trusted-root", offlineTrustedRoot(t), "--allow-http-registry"}
		if _, stderr, code := cosign(t, append(args, "--key", releasePub, byDigest)...); code != 0 {
			t.Fatalf("%s: cosign verify-attestation rejected vessel's provenance: %s", r.Kind, stderr)
		}
		if _, _, code := cosign(t, append(args, "--key", otherPub, byDigest)...); code == 0 {
			t.Fatalf("%s: cosign verify-attestation accepted the wrong key", r.Kind)
		}

		// cosign attest, bundle and classic -> vessel attestations.
		for typ, flag := range map[string]string{"https://example.com/eval/v1": "--new-bundle-format", "https://example.com/eval-classic/v1": "--new-bundle-format=false"} {
			if _, stderr, code := cosign(t, "attest", "--key", releaseKey, "--type", typ, "--predicate", pred, "--tlog-upload=false", "--allow-http-registry", "-y", flag, byDigest); code != 0 {
				t.Fatalf("%s: cosign attest %s: %s", r.Kind, flag, stderr)
			}
		}
		out, stderr, code := vessel(t, "attestations", ref, "--key", releasePub, "-o", "json")
		if code != 0 {
			t.Fatalf("attestations: %s", stderr)
		}
		var list struct {
			Attestations []struct {
				Source        string          `json:"source"`
				PredicateType string          `json:"predicateType"`
				Statement     json.RawMessage `json:"statement"`
			} `json:"attestations"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, a := range list.Attestations {
			got[a.PredicateType] = a.Source
			if a.PredicateType != "https://slsa.dev/provenance/v1" && !strings.Contains(string(a.Statement), "0.91") {
				t.Errorf("%s: predicate of %s missing from %s", r.Kind, a.PredicateType, a.Statement)
			}
		}
		want := map[string]string{"https://slsa.dev/provenance/v1": "referrer", "https://example.com/eval/v1": "referrer", "https://example.com/eval-classic/v1": "classic-attestation"}
		for typ, src := range want {
			if got[typ] != src {
				t.Errorf("%s: attestation %s: got source %q, want %q (all: %v)", r.Kind, typ, got[typ], src, got)
			}
		}
		out, _, _ = vessel(t, "attestations", ref, "--key", otherPub, "-o", "json")
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Attestations) != 0 {
			t.Fatalf("%s: attestations listed for an untrusted key: %s", r.Kind, out)
		}
	}
}

// A signed model pulled with --signature carries an OMS bundle that
// verifies the directory with no registry in sight.
func TestPullSignatureVerifiesOffline(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	_, otherPub := keygen(t, keys, "other")
	for _, r := range remoteRegistries(t) {
		ref := r.Ref("team/m:v1")
		pushSample(t, ref, "--key", releaseKey)
		dest := filepath.Join(t.TempDir(), "m")
		sig := filepath.Join(dest, "model.sig")
		if _, stderr, code := vessel(t, "pull", ref, dest, "--key", releasePub, "--signature", sig, "-q"); code != 0 {
			t.Fatalf("%s: pull --signature: %s", r.Kind, stderr)
		}
		out, stderr, code := vessel(t, "verify-dir", dest, "--signature", sig, "--key", releasePub)
		if code != 0 {
			t.Fatalf("%s: verify-dir of the pulled model: exit %d\n%s%s", r.Kind, code, out, stderr)
		}
		if _, _, code := vessel(t, "verify-dir", dest, "--signature", sig, "--key", otherPub); code != 3 {
			t.Fatalf("%s: verify-dir with the wrong key: exit %d", r.Kind, code)
		}
		if err := os.WriteFile(filepath.Join(dest, "extra.bin"), []byte("unsigned"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, code := vessel(t, "verify-dir", dest, "--signature", sig, "--key", releasePub); code != 3 {
			t.Fatalf("%s: verify-dir with an unsigned file: exit %d", r.Kind, code)
		}
		if _, stderr, code := vessel(t, "verify-dir", dest, "--signature", sig, "--key", releasePub, "--ignore-unsigned-files"); code != 0 {
			t.Fatalf("%s: --ignore-unsigned-files: %s", r.Kind, stderr)
		}
	}
}
