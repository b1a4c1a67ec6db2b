package admission

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
	"testing"
	"time"
)

func writePair(t *testing.T, dir, cn string, mtime time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	for name, data := range map[string][]byte{
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func servedName(t *testing.T, kp *keyPair) string {
	t.Helper()
	c, err := kp.load()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

// A rotated key pair is served without a restart; a half-written one
// (the key not yet matching) keeps the old pair in service.
func TestKeyPairRotation(t *testing.T) {
	dir := t.TempDir()
	start := time.Now().Add(-time.Hour)
	writePair(t, dir, "first", start)
	kp := &keyPair{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	if got := servedName(t, kp); got != "first" {
		t.Fatalf("serving %q", got)
	}
	writePair(t, dir, "second", start.Add(time.Minute))
	if got := servedName(t, kp); got != "second" {
		t.Fatalf("after rotation serving %q, want second", got)
	}
	// Mid-rotation: a new certificate, the old key.
	keep, _ := os.ReadFile(filepath.Join(dir, "tls.key"))
	writePair(t, dir, "third", start.Add(2*time.Minute))
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keep, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := servedName(t, kp); got != "second" {
		t.Fatalf("with a mismatched pair serving %q, want the last good one", got)
	}
	// Nothing to serve at the start is an error.
	if _, err := (&keyPair{certFile: filepath.Join(dir, "none.crt"), keyFile: filepath.Join(dir, "none.key")}).load(); err == nil {
		t.Fatal("a missing key pair loaded")
	}
}
