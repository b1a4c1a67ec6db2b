package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vessel-oci/vessel/server"
)

// A registry serving TLS on loopback: trusted through --ca-file, refused
// without it, accepted with --insecure-skip-tls-verify.
func TestTLSRegistry(t *testing.T) {
	h, closeStore := server.Handler(server.Options{})
	t.Cleanup(func() { _ = closeStore() })
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL, "https://")
	src := model(t)
	if _, stderr, code := run(t, "push", src, host+"/m:v1", "-q", "--ca-file", ca); code != 0 {
		t.Fatalf("push with --ca-file: %s", stderr)
	}
	if _, stderr, code := run(t, "inspect", host+"/m:v1", "--insecure-skip-tls-verify"); code != 0 {
		t.Fatalf("inspect with --insecure-skip-tls-verify: %s", stderr)
	}
	// Plain HTTP (the loopback default) against a TLS server fails.
	if _, _, code := run(t, "inspect", host+"/m:v1"); code == 0 {
		t.Fatal("inspect over plain HTTP of a TLS registry succeeded")
	}
	// TLS trusting another CA only: the server's certificate is refused.
	other := filepath.Join(t.TempDir(), "other.pem")
	_ = os.WriteFile(other, selfSigned(t), 0o644)
	if _, stderr, code := run(t, "inspect", host+"/m:v1", "--ca-file", other); code == 0 || !strings.Contains(stderr, "certificate") {
		t.Fatalf("inspect with the wrong CA: exit %d: %s", code, stderr)
	}
}

// selfSigned returns a PEM certificate of an unrelated CA.
func selfSigned(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
