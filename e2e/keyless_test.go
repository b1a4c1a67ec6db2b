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

// vessel signs keyless (push --keyless with the CI token in
// $SIGSTORE_ID_TOKEN, sign --keyless with a token file, sign-dir
// --keyless) against the private Fulcio and TSA; cosign verifies the
// registry signatures with its identity flags, vessel verifies and pulls
// them, and the OpenSSF model signature travels with the files and
// verifies with verify-dir's identity flags.
func TestVesselKeylessCosignVerifies(t *testing.T) {
	requireCosign(t)
	if !inPrivateNetwork(t) {
		return
	}
	ss := startSigstore(t)
	const who = "trainer@example.com"
	services := []string{"--fulcio-url", ss.fulcioURL, "--timestamp-server-url", ss.tsaURL}
	identity := []string{"--certificate-identity", who, "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", ss.trustedRoot}
	tokenFile := filepath.Join(t.TempDir(), "token")
	ppWriteFile(t, tokenFile, []byte(ss.issuer.token(t, who)))
	for i, r := range remoteRegistries(t) {
		ref := r.Ref("signed/m:v1")
		var digest string
		if i == 0 {
			out, stderr, code := runCmd(t, cmdOpts{Env: []string{"SIGSTORE_ID_TOKEN=" + ss.issuer.token(t, who)}}, vesselBin,
				append([]string{"push", ppSampleModel(), ref, "--keyless", "-q"}, services...)...)
			if code != 0 {
				t.Fatalf("%s: push --keyless: %s", r.Kind, stderr)
			}
			digest = strings.TrimSpace(out)
		} else {
			digest = pushSample(t, ref)
			if _, stderr, code := vessel(t, append([]string{"sign", ref, "--keyless", "--identity-token-file", tokenFile}, services...)...); code != 0 {
				t.Fatalf("%s: sign --keyless: %s", r.Kind, stderr)
			}
		}
		byDigest := r.Ref("signed/m@" + digest)
		if _, stderr, code := cosign(t, "verify", "--certificate-identity", who, "--certificate-oidc-issuer", ss.issuer.URL,
			"--trusted-root", ss.trustedRoot, "--insecure-ignore-tlog", "--insecure-ignore-sct", "--use-signed-timestamps",
			"--allow-http-registry", byDigest); code != 0 {
			t.Fatalf("%s: cosign verify of vessel's keyless signature: %s", r.Kind, stderr)
		}
		if _, _, code := cosign(t, "verify", "--certificate-identity", "someone@example.com", "--certificate-oidc-issuer", ss.issuer.URL,
			"--trusted-root", ss.trustedRoot, "--insecure-ignore-tlog", "--insecure-ignore-sct", "--use-signed-timestamps",
			"--allow-http-registry", byDigest); code == 0 {
			t.Fatalf("%s: cosign accepted vessel's keyless signature for another identity", r.Kind)
		}
		out, stderr, code := vessel(t, append([]string{"verify", ref}, identity...)...)
		if code != 0 || !strings.Contains(out, "keyless "+who) {
			t.Fatalf("%s: vessel verify: exit %d\n%s%s", r.Kind, code, out, stderr)
		}
		dest := filepath.Join(t.TempDir(), "m")
		if _, stderr, code := vessel(t, append([]string{"pull", ref, dest, "-q", "--signature", filepath.Join(dest, "model.sig")}, identity...)...); code != 0 {
			t.Fatalf("%s: pull with the OMS signature: %s", r.Kind, stderr)
		}
		if out, stderr, code := vessel(t, append([]string{"verify-dir", dest, "--signature", filepath.Join(dest, "model.sig")}, identity...)...); code != 0 {
			t.Fatalf("%s: verify-dir of the pulled model: exit %d\n%s%s", r.Kind, code, out, stderr)
		}
	}

	model := t.TempDir()
	ppCopyTree(t, ppSampleModel(), model)
	sig := filepath.Join(t.TempDir(), "model.sig")
	if _, stderr, code := vessel(t, append([]string{"sign-dir", model, "--signature", sig, "--keyless", "--identity-token-file", tokenFile}, services...)...); code != 0 {
		t.Fatalf("sign-dir --keyless: %s", stderr)
	}
	if out, stderr, code := vessel(t, append([]string{"verify-dir", model, "--signature", sig}, identity...)...); code != 0 || !strings.Contains(out, who) {
		t.Fatalf("verify-dir of sign-dir --keyless: exit %d\n%s%s", code, out, stderr)
	}
	if _, _, code := vessel(t, "verify-dir", model, "--signature", sig, "--certificate-identity", "someone@example.com", "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", ss.trustedRoot); code != 3 {
		t.Fatalf("verify-dir accepted another identity: exit %d", code)
	}
}
