package oms_test

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/oms"
)

// testdata is the repository's testdata/oms (see its README).
func testdata(t testing.TB, elem ...string) string {
	t.Helper()
	return testutil.Testdata(t, append([]string{"oms"}, elem...)...)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyTree copies a model directory (or file) into a fresh temporary
// directory and returns the copy's path.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The reference's test PKI (public test keys).
func refKeyVerifier(t testing.TB) oms.Verifier {
	t.Helper()
	v, err := attest.LoadPublicKey(readFile(t, testdata(t, "model-transparency/scripts/tests/keys/certificate/signing-key-pub.pem")))
	if err != nil {
		t.Fatal(err)
	}
	return oms.SignerVerifier(attest.TrustedSigner{Name: "signing-key-pub.pem", Key: v})
}

func refSigner(t testing.TB) attest.Signer {
	t.Helper()
	s, err := attest.LoadPrivateKey(readFile(t, testdata(t, "model-transparency/scripts/tests/keys/certificate/signing-key.pem")), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func refCertVerifier(t testing.TB) oms.Verifier {
	t.Helper()
	v, err := oms.CertificateVerifier(readFile(t, testdata(t, "model-transparency/scripts/tests/keys/certificate/ca-cert.pem")))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const (
	refIdentity = "stefanb@us.ibm.com"
	refIssuer   = "https://sigstore.verify.ibm.com/oauth2"
)

func refSigstoreVerifier(t testing.TB, identity, issuer string) oms.Verifier {
	t.Helper()
	tr, err := root.NewTrustedRootFromPath(testdata(t, "sigstore-root-signing/targets/trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := attest.NewKeyless(attest.Keyless{Identity: identity, Issuer: issuer, Root: tr})
	if err != nil {
		t.Fatal(err)
	}
	return oms.SignerVerifier(attest.TrustedSigner{Name: identity, Keyless: k})
}
