//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// Each cosign release signs a model keyless in "CI" (an OIDC token from
// the test's issuer, a certificate from the real Fulcio, a timestamp from
// the real TSA, no transparency log), and vessel verifies and pulls it
// with cosign's identity flags and the private instance's trusted root; a
// wrong identity, a wrong issuer and another instance's trusted root are
// refused. On both kinds of registry.
func TestCosignKeylessVesselVerifies(t *testing.T) {
	requireCosign(t)
	if !inPrivateNetwork(t) {
		return
	}
	ss := startSigstore(t)
	const who = "ci@example.com"
	for _, r := range remoteRegistries(t) {
		for i, c := range cosignReleases {
			repo := "keyless/" + []string{"v3", "v2"}[i]
			ref := r.Ref(repo + ":v1")
			model := t.TempDir()
			ppCopyTree(t, ppSampleModel(), model)
			ppWriteFile(t, filepath.Join(model, "NOTICE"), []byte(c.name+"\n"))
			digest := pushModelPlain(t, model, ref)
			if _, stderr, code := c.run(t, c.keylessSign(t, ss, ss.issuer.token(t, who), r.Ref(repo+"@"+digest))...); code != 0 {
				t.Fatalf("%s: %s sign keyless: %s", r.Kind, c.name, stderr)
			}
			identity := []string{"--certificate-identity", who, "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", ss.trustedRoot}
			out, stderr, code := vessel(t, append([]string{"verify", ref}, identity...)...)
			if code != 0 || !strings.Contains(out, "keyless "+who+", issuer "+ss.issuer.URL) {
				t.Fatalf("%s: vessel verify of a %s keyless signature: exit %d\n%s%s", r.Kind, c.name, code, out, stderr)
			}
			dest := filepath.Join(t.TempDir(), "m")
			if _, stderr, code := vessel(t, append([]string{"pull", ref, dest, "-q"}, identity...)...); code != 0 {
				t.Fatalf("%s: pull: %s", r.Kind, stderr)
			}
			ppAssertSameTree(t, dest, model)
			for name, args := range map[string][]string{
				"another identity": {"--certificate-identity", "release@example.com", "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", ss.trustedRoot},
				"another issuer":   {"--certificate-identity", who, "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com", "--trusted-root", ss.trustedRoot},
				"another Sigstore": {"--certificate-identity", who, "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", filepath.Join(repoRoot, "testdata", "oms", "sigstore-root-signing", "targets", "trusted_root.json")},
			} {
				if out, stderr, code := vessel(t, append([]string{"verify", ref}, args...)...); code != 3 {
					t.Errorf("%s, %s: %s: exit %d, want 3\n%s%s", r.Kind, c.name, name, code, out, stderr)
				}
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
			// The services from a signing config, as cosign v3 takes them.
			digest = pushSample(t, ref)
			if _, stderr, code := vessel(t, "sign", ref, "--keyless", "--identity-token-file", tokenFile, "--signing-config", ss.signingConfig); code != 0 {
				t.Fatalf("%s: sign --keyless: %s", r.Kind, stderr)
			}
		}
		byDigest := r.Ref("signed/m@" + digest)
		for _, c := range cosignReleases {
			if _, stderr, code := c.run(t, append(append([]string{"verify"}, keylessVerify(ss, who)...), byDigest)...); code != 0 {
				t.Fatalf("%s: %s verify of vessel's keyless signature: %s", r.Kind, c.name, stderr)
			}
			if _, _, code := c.run(t, append(append([]string{"verify"}, keylessVerify(ss, "someone@example.com")...), byDigest)...); code == 0 {
				t.Fatalf("%s: %s accepted vessel's keyless signature for another identity", r.Kind, c.name)
			}
			publicGood := filepath.Join(repoRoot, "testdata", "oms", "sigstore-root-signing", "targets", "trusted_root.json")
			if _, _, code := c.run(t, append(append([]string{"verify"}, keylessVerifyAgainst(ss, who, publicGood)...), byDigest)...); code == 0 {
				t.Fatalf("%s: %s accepted vessel's keyless signature against another Sigstore's trusted root", r.Kind, c.name)
			}
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

// cosign v2 signs keyless in its default, classic form (a
// "sha256-<digest>.sig" tag whose layer carries the certificate and the
// RFC 3161 timestamp in annotations), as CI pipelines on v2 still do;
// vessel verifies it with the identity flags, and refuses another identity.
func TestCosignClassicKeylessVesselVerifies(t *testing.T) {
	requireCosign(t)
	if !inPrivateNetwork(t) {
		return
	}
	ss := startSigstore(t)
	const who = "ci@example.com"
	for _, r := range remoteRegistries(t) {
		ref := r.Ref("classic/m:v1")
		digest := pushSample(t, ref)
		if _, stderr, code := runCmd(t, cmdOpts{}, cosignBin, "sign", "--yes", "--new-bundle-format=false", "--allow-http-registry",
			"--fulcio-url", ss.fulcioURL, "--identity-token", ss.issuer.token(t, who), "--timestamp-server-url", ss.tsaURL,
			"--tlog-upload=false", "--insecure-skip-verify", r.Ref("classic/m@"+digest)); code != 0 {
			t.Fatalf("%s: cosign sign keyless (classic): %s", r.Kind, stderr)
		}
		identity := []string{"--certificate-identity", who, "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", ss.trustedRoot}
		out, stderr, code := vessel(t, append([]string{"verify", ref}, identity...)...)
		if code != 0 || !strings.Contains(out, "ok       classic") || !strings.Contains(out, "keyless "+who) {
			t.Fatalf("%s: vessel verify of cosign's classic keyless signature: exit %d\n%s%s", r.Kind, code, out, stderr)
		}
		if _, _, code := vessel(t, "verify", ref, "--certificate-identity", "someone@example.com", "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", ss.trustedRoot); code != 3 {
			t.Fatalf("%s: another identity: exit %d", r.Kind, code)
		}
	}
}
