package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vessel-oci/vessel/internal/testutil"
)

// testCA is a company's model-signing PKI: a root, an intermediate, and
// leaf certificates for signing keys.
type testCA struct {
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
	dir               string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	ca := &testCA{dir: t.TempDir()}
	ca.root, ca.rootKey = issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: name + " root"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	ca.inter, ca.interKey = issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: name + " intermediate"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, ca.root, ca.rootKey)
	return ca
}

// issue makes a certificate from template, signed by parent (self-signed
// when nil), valid from an hour ago for a day.
func issue(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = serial, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func pemCerts(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// signingKey issues a code-signing certificate for email and writes the
// key (PKCS#8), the certificate and the CA's files; it returns their paths.
func (ca *testCA) signingKey(t *testing.T, email string) (key, cert, chain, roots string) {
	t.Helper()
	leaf, k := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: email}, EmailAddresses: []string{email},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, ca.inter, ca.interKey)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, cert, chain, roots = filepath.Join(dir, "leaf.key"), filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "chain.pem"), filepath.Join(ca.dir, "ca.pem")
	for p, data := range map[string][]byte{
		key:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		cert:  pemCerts(leaf),
		chain: pemCerts(ca.inter, ca.root),
		roots: pemCerts(ca.root, ca.inter),
	} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return key, cert, chain, roots
}

// A model signed under a company's own CA verifies with the CA's
// certificates and the signer's identity, in the registry and as an
// OpenSSF model signature; another identity or another CA is exit 3.
func TestCertificateChainSignatures(t *testing.T) {
	host := testutil.Registry(t, testutil.Olareg, nil)
	ref := host + "/vendor/m:v1"
	ca := newTestCA(t, "Vendor model signing")
	key, cert, chain, roots := ca.signingKey(t, "release@vendor.example")
	other := newTestCA(t, "Someone else")
	_, _, _, otherRoots := other.signingKey(t, "release@vendor.example")
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
	policy := filepath.Join(ca.dir, "policy.yaml")
	testutil.WriteTree(t, ca.dir, map[string]string{"policy.yaml": "version: 1\nscopes:\n  - scope: \"" + host + "/vendor/**\"\n    signers:\n      - name: vendor\n        certificateChain: {roots: ca.pem, identity: release@vendor.example}\n"})
	if out, stderr, code := run(t, "verify", ref, "--policy", policy); code != exitOK || !strings.Contains(out, "signed by vendor (certificate release@vendor.example, CA CN=Vendor model signing intermediate)") {
		t.Fatalf("verify --policy: exit %d\n%s%s", code, out, stderr)
	}

	// A certificate for another key is refused before anything is signed.
	otherKey, _, _, _ := ca.signingKey(t, "release@vendor.example")
	if _, stderr, code := run(t, "sign", ref, "--key", otherKey, "--certificate", cert); code == exitOK || !strings.Contains(stderr, "another key") {
		t.Fatalf("sign with a certificate for another key: exit %d: %s", code, stderr)
	}
}
