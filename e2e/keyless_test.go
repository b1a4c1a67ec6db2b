//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// cosign signs a model keyless in "CI" (an OIDC token from the test's
// issuer, a certificate from the real Fulcio, a timestamp from the real
// TSA, no transparency log), and vessel verifies and pulls it with
// cosign's identity flags and the private instance's trusted root; a
// wrong identity, a wrong issuer and no trusted root of that instance are
// refused. On both kinds of registry.
func TestCosignKeylessVesselVerifies(t *testing.T) {
	requireCosign(t)
	if !inPrivateNetwork(t) {
		return
	}
	ss := startSigstore(t)
	const who = "ci@example.com"
	for _, r := range remoteRegistries(t) {
		ref := r.Ref("keyless/m:v1")
		digest := pushSample(t, ref)
		byDigest := r.Ref("keyless/m@" + digest)
		if _, stderr, code := cosign(t, "sign", "--yes", "--new-bundle-format", "--allow-http-registry",
			"--fulcio-url", ss.fulcioURL, "--identity-token", ss.issuer.token(t, who),
			"--timestamp-server-url", ss.tsaURL, "--tlog-upload=false", "--insecure-skip-verify", byDigest); code != 0 {
			t.Fatalf("%s: cosign sign keyless: %s", r.Kind, stderr)
		}
		identity := []string{"--certificate-identity", who, "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", ss.trustedRoot}
		out, stderr, code := vessel(t, append([]string{"verify", ref}, identity...)...)
		if code != 0 || !strings.Contains(out, "keyless "+who+", issuer "+ss.issuer.URL) {
			t.Fatalf("%s: vessel verify of cosign's keyless signature: exit %d\n%s%s", r.Kind, code, out, stderr)
		}
		dest := filepath.Join(t.TempDir(), "m")
		if _, stderr, code := vessel(t, append([]string{"pull", ref, dest, "-q"}, identity...)...); code != 0 {
			t.Fatalf("%s: pull: %s", r.Kind, stderr)
		}
		ppAssertSameTree(t, dest, ppSampleModel())
		for name, args := range map[string][]string{
			"another identity": {"--certificate-identity", "release@example.com", "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", ss.trustedRoot},
			"another issuer":   {"--certificate-identity", who, "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com", "--trusted-root", ss.trustedRoot},
			"another Sigstore": {"--certificate-identity", who, "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", filepath.Join(repoRoot, "testdata", "oms", "sigstore-root-signing", "targets", "trusted_root.json")},
		} {
			if out, stderr, code := vessel(t, append([]string{"verify", ref}, args...)...); code != 3 {
				t.Errorf("%s: %s: exit %d, want 3\n%s%s", r.Kind, name, code, out, stderr)
			}
		}
	}
}
