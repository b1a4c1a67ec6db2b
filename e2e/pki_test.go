//go:build e2e

package e2e

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/vessel-oci/vessel/internal/testutil"
)

// pkiTrustedRoot is the trusted_root.json by which cosign v3 trusts a
// company's own CA (what `cosign trusted-root create
// --certificate-chain` writes): the CA, no logs, no TSA.
func pkiTrustedRoot(t *testing.T, ca *testutil.CA) string {
	t.Helper()
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{&root.FulcioCertificateAuthority{
		Root: ca.Root, Intermediates: []*x509.Certificate{ca.Intermediate}, ValidityPeriodStart: time.Now().Add(-2 * time.Hour),
	}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Signatures under a company's own CA, both ways with cosign v3.1.3, on
// both kinds of registry: vessel signs with the key and its certificate
// and cosign verifies with the CA in a trusted root; cosign signs with
// --certificate and --certificate-chain and vessel verifies with the CA's
// certificates and the signer's identity. Another identity, or another
// CA, is refused by both.
func TestCertificateChainInterop(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	ca := testutil.NewCA(t, "Vendor model signing")
	s := ca.SigningKey(t, "release@vendor.example")
	otherCA := testutil.NewCA(t, "Someone else")
	tr, otherTR := pkiTrustedRoot(t, ca), pkiTrustedRoot(t, otherCA)
	cosign3 := cosignReleases[0]
	// cosign signs with keys in its own format: import the PKCS#8 one.
	imported := filepath.Join(t.TempDir(), "imported")
	if _, stderr, code := cosign3.run(t, "import-key-pair", "--key", s.Key, "--output-key-prefix", imported); code != 0 {
		t.Fatalf("cosign import-key-pair: %s", stderr)
	}
	cosignVerify := func(identity, trustedRoot, ref string) int {
		_, _, code := cosign3.run(t, "verify", "--certificate-identity", identity, "--certificate-oidc-issuer-regexp", ".*",
			"--trusted-root", trustedRoot, "--insecure-ignore-tlog", "--insecure-ignore-sct", "--allow-http-registry", ref)
		return code
	}
	for _, r := range remoteRegistries(t) {
		ref := r.Ref("pki/m:vessel-signed")
		digest := pushSample(t, ref, "--key", s.Key, "--certificate", s.Cert, "--certificate-chain", s.Chain)
		byDigest := r.Ref("pki/m@" + digest)
		if code := cosignVerify("release@vendor.example", tr, byDigest); code != 0 {
			t.Fatalf("%s: cosign v3 verify of vessel's certificate signature: exit %d", r.Kind, code)
		}
		if code := cosignVerify("intern@vendor.example", tr, byDigest); code == 0 {
			t.Fatalf("%s: cosign v3 accepted another identity", r.Kind)
		}
		if code := cosignVerify("release@vendor.example", otherTR, byDigest); code == 0 {
			t.Fatalf("%s: cosign v3 accepted another CA", r.Kind)
		}

		model := t.TempDir()
		ppCopyTree(t, ppSampleModel(), model)
		ppWriteFile(t, filepath.Join(model, "NOTICE"), []byte("signed by cosign\n"))
		ref = r.Ref("pki/m:cosign-signed")
		digest = pushModelPlain(t, model, ref)
		if _, stderr, code := cosign3.run(t, "sign", "--yes", "--allow-http-registry", "--key", imported+".key", "--certificate", s.Cert, "--certificate-chain", s.Chain,
			"--signing-config", emptySigningConfig(t), r.Ref("pki/m@"+digest)); code != 0 {
			t.Fatalf("%s: cosign v3 sign with a certificate: %s", r.Kind, stderr)
		}
		if out, stderr, code := vessel(t, "verify", ref, "--certificate-chain", s.CA, "--certificate-identity", "release@vendor.example"); code != 0 {
			t.Fatalf("%s: vessel verify of cosign's certificate signature: exit %d\n%s%s", r.Kind, code, out, stderr)
		}
		if _, _, code := vessel(t, "verify", ref, "--certificate-chain", s.CA, "--certificate-identity", "intern@vendor.example"); code != 3 {
			t.Fatalf("%s: vessel accepted another identity: exit %d", r.Kind, code)
		}
		if _, _, code := vessel(t, "verify", ref, "--certificate-chain", otherCA.SigningKey(t, "x@y").CA); code != 3 {
			t.Fatalf("%s: vessel accepted another CA: exit %d", r.Kind, code)
		}
	}
}
