package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vessel-oci/vessel/internal/testutil"
)

// A model signed under a company's own CA verifies with the CA's
// certificates and the signer's identity, in the registry and as an
// OpenSSF model signature; another identity or another CA is exit 3.
func TestCertificateChainSignatures(t *testing.T) {
	host := testutil.Registry(t, testutil.Olareg, nil)
	ref := host + "/vendor/m:v1"
	ca := testutil.NewCA(t, "Vendor model signing")
	signing := ca.SigningKey(t, "release@vendor.example")
	key, cert, chain, roots := signing.Key, signing.Cert, signing.Chain, signing.CA
	otherRoots := testutil.NewCA(t, "Someone else").SigningKey(t, "release@vendor.example").CA
	caDir := filepath.Dir(roots)
	src := model(t)
	if _, stderr, code := run(t, "push", src, ref, "-q", "--key", key, "--certificate", cert, "--certificate-chain", chain); code != exitOK {
		t.Fatalf("push signed with a certificate: %s", stderr)
	}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"the CA", []string{"--certificate-chain", roots}, exitOK},
		{"the CA and the identity", []string{"--certificate-chain", roots, "--certificate-identity", "release@vendor.example"}, exitOK},
		{"the CA and an identity regexp", []string{"--certificate-chain", roots, "--certificate-identity-regexp", `@vendor\.example$`}, exitOK},
		{"another identity", []string{"--certificate-chain", roots, "--certificate-identity", "intern@vendor.example"}, exitVerification},
		{"another CA", []string{"--certificate-chain", otherRoots}, exitVerification},
		{"an OIDC issuer with a CA", []string{"--certificate-chain", roots, "--certificate-oidc-issuer", "https://issuer.example"}, exitUsage},
	} {
		out, stderr, code := run(t, append([]string{"verify", ref}, tc.args...)...)
		if code != tc.want {
			t.Errorf("%s: verify exit %d, want %d\n%s%s", tc.name, code, tc.want, out, stderr)
		}
	}

	dest := filepath.Join(t.TempDir(), "m")
	if _, stderr, code := run(t, "pull", ref, dest, "-q", "--cache-dir", t.TempDir(), "--certificate-chain", roots, "--certificate-identity", "release@vendor.example", "--signature", filepath.Join(dest, "model.sig")); code != exitOK {
		t.Fatalf("pull: %s", stderr)
	}
	out, stderr, code := run(t, "verify-dir", dest, "--signature", filepath.Join(dest, "model.sig"), "--certificate-chain", roots, "--certificate-identity", "release@vendor.example")
	if code != exitOK || !strings.Contains(out, "Signer     certificate CN=release@vendor.example") {
		t.Fatalf("verify-dir of the pulled model: exit %d\n%s%s", code, out, stderr)
	}

	// sign-dir with the certificate method; a policy names the CA.
	sig := filepath.Join(t.TempDir(), "model.sig")
	if _, stderr, code := run(t, "sign-dir", src, "--signature", sig, "--key", key, "--certificate", cert, "--certificate-chain", chain); code != exitOK {
		t.Fatalf("sign-dir: %s", stderr)
	}
	if out, stderr, code := run(t, "verify-dir", src, "--signature", sig, "--certificate-chain", roots); code != exitOK {
		t.Fatalf("verify-dir: exit %d\n%s%s", code, out, stderr)
	}
	if _, _, code := run(t, "verify-dir", src, "--signature", sig, "--certificate-chain", otherRoots); code != exitVerification {
		t.Fatalf("verify-dir with another CA: exit %d", code)
	}
	policy := filepath.Join(caDir, "policy.yaml")
	testutil.WriteTree(t, caDir, map[string]string{"policy.yaml": "version: 1\nscopes:\n  - scope: \"" + host + "/vendor/**\"\n    signers:\n      - name: vendor\n        certificateChain: {roots: ca.pem, identity: release@vendor.example}\n"})
	if out, stderr, code := run(t, "verify", ref, "--policy", policy); code != exitOK || !strings.Contains(out, "signed by vendor (certificate release@vendor.example, CA CN=Vendor model signing intermediate)") {
		t.Fatalf("verify --policy: exit %d\n%s%s", code, out, stderr)
	}

	// A certificate for another key is refused before anything is signed.
	otherKey := ca.SigningKey(t, "release@vendor.example").Key
	if _, stderr, code := run(t, "sign", ref, "--key", otherKey, "--certificate", cert); code == exitOK || !strings.Contains(stderr, "another key") {
		t.Fatalf("sign with a certificate for another key: exit %d: %s", code, stderr)
	}
}

// A self-signed certificate is its own CA: the OpenSSF model signature of
// a directory with subdirectories, and the registry signature, verify
// against the certificate itself, and not against another one.
func TestSelfSignedCertificateSignatures(t *testing.T) {
	host := testutil.Registry(t, testutil.Olareg, nil)
	self := testutil.SelfSigned(t, "solo@example.com")
	other := testutil.SelfSigned(t, "solo@example.com")
	src := model(t) // holds sub/notes.md
	sig := filepath.Join(t.TempDir(), "model.sig")
	if _, stderr, code := run(t, "sign-dir", src, "--signature", sig, "--key", self.Key, "--certificate", self.Cert); code != exitOK {
		t.Fatalf("sign-dir: %s", stderr)
	}
	if out, stderr, code := run(t, "verify-dir", src, "--signature", sig, "--certificate-chain", self.CA, "--certificate-identity", "solo@example.com"); code != exitOK || !strings.Contains(out, "3 signed file(s) match") {
		t.Fatalf("verify-dir: exit %d\n%s%s", code, out, stderr)
	}
	if _, _, code := run(t, "verify-dir", src, "--signature", sig, "--certificate-chain", other.CA); code != exitVerification {
		t.Fatalf("verify-dir against another self-signed certificate: exit %d", code)
	}
	ref := host + "/solo/m:v1"
	if _, stderr, code := run(t, "push", src, ref, "-q", "--key", self.Key, "--certificate", self.Cert); code != exitOK {
		t.Fatalf("push: %s", stderr)
	}
	if out, stderr, code := run(t, "verify", ref, "--certificate-chain", self.CA); code != exitOK {
		t.Fatalf("verify: exit %d\n%s%s", code, out, stderr)
	}
	if _, _, code := run(t, "verify", ref, "--certificate-chain", other.CA); code != exitVerification {
		t.Fatalf("verify against another self-signed certificate: exit %d", code)
	}
}
