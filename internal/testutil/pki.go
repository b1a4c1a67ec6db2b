package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a company's model-signing PKI for tests: a root and an
// intermediate that issue code-signing certificates.
type CA struct {
	Root, Intermediate       *x509.Certificate
	rootKey, intermediateKey *ecdsa.PrivateKey
}

// NewCA makes one; name goes in the certificates' common names.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca := &CA{}
	ca.Root, ca.rootKey = issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: name + " root"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	ca.Intermediate, ca.intermediateKey = issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: name + " intermediate"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, ca.Root, ca.rootKey)
	return ca
}

// issue makes a certificate from tmpl signed by parent (self-signed when
// nil), for a new P-256 key, valid from an hour ago for a day unless tmpl
// says until when.
func issue(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber, tmpl.NotBefore = serial, time.Now().Add(-time.Hour)
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
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

// PEM encodes certificates.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// SigningFiles are what a signer of the CA holds, as files.
type SigningFiles struct {
	Key   string // PKCS#8 PEM private key
	Cert  string // its certificate
	Chain string // intermediate, then root (cosign's --certificate-chain order)
	CA    string // root and intermediate: what a verifier trusts
	Leaf  *x509.Certificate
}

// SigningKey issues a code-signing certificate naming email and writes
// the files into a new directory.
func (ca *CA) SigningKey(t testing.TB, email string) SigningFiles {
	t.Helper()
	return ca.signingFiles(t, &x509.Certificate{Subject: pkix.Name{CommonName: email}, EmailAddresses: []string{email},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
}

// oidOIDCIssuer is Fulcio's certificate extension naming the OIDC issuer
// that vouched for the identity (1.3.6.1.4.1.57264.1.8, a DER UTF8String).
var oidOIDCIssuer = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}

// KeylessCert issues a certificate shaped like Fulcio's (email identity,
// OIDC issuer extension, code signing) that expires at notAfter: with the
// CA listed as a certificate authority in a trusted root, it stands for a
// short-lived keyless certificate whose expiry a test can wait for.
func (ca *CA) KeylessCert(t testing.TB, email, oidcIssuer string, notAfter time.Time) SigningFiles {
	t.Helper()
	ext, err := asn1.MarshalWithParams(oidcIssuer, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	return ca.signingFiles(t, &x509.Certificate{EmailAddresses: []string{email}, NotAfter: notAfter,
		ExtraExtensions: []pkix.Extension{{Id: oidOIDCIssuer, Value: ext}},
		KeyUsage:        x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
}

// signingFiles issues tmpl under the intermediate and writes the key and
// certificates into a new directory.
func (ca *CA) signingFiles(t testing.TB, tmpl *x509.Certificate) SigningFiles {
	t.Helper()
	leaf, k := issue(t, tmpl, ca.Intermediate, ca.intermediateKey)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := SigningFiles{Key: filepath.Join(dir, "leaf.key"), Cert: filepath.Join(dir, "leaf.pem"), Chain: filepath.Join(dir, "chain.pem"), CA: filepath.Join(dir, "ca.pem"), Leaf: leaf}
	for p, data := range map[string][]byte{
		f.Key:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		f.Cert:  PEM(leaf),
		f.Chain: PEM(ca.Intermediate, ca.Root),
		f.CA:    PEM(ca.Root, ca.Intermediate),
	} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// SelfSigned is a signing key whose certificate is its own issuer: the
// certificate is what a verifier trusts (CA is the certificate itself).
func SelfSigned(t testing.TB, email string) SigningFiles {
	t.Helper()
	leaf, k := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: email}, EmailAddresses: []string{email},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, nil, nil)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := SigningFiles{Key: filepath.Join(dir, "self.key"), Cert: filepath.Join(dir, "self.pem"), CA: filepath.Join(dir, "self.pem"), Leaf: leaf}
	if err := os.WriteFile(f.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Cert, PEM(leaf), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
