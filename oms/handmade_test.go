package oms_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/oms"
)

// Bundles made by hand here, for what vessel does not sign itself: the
// certificate method and the legacy v0.2.0 predicate.

func ed25519PEM(t *testing.T) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCert(t *testing.T, name string, parent *testCert, mutate func(*x509.Certificate)) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if mutate != nil {
		mutate(tmpl)
	}
	parentCert, parentKey := tmpl, key
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// statementFor signs a directory's files with sha256 (digests computed
// here, independently of the package).
func statementFor(t *testing.T, dir string, names ...string) []byte {
	t.Helper()
	var rs []oms.Resource
	for _, n := range names {
		sum := sha256.Sum256(readFile(t, filepath.Join(dir, n)))
		rs = append(rs, oms.Resource{Name: n, Digest: hex.EncodeToString(sum[:])})
	}
	st, err := oms.Statement(filepath.Base(dir), rs, oms.Serialization{Method: oms.MethodFiles, HashType: oms.HashSHA256})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// handBundle signs payload's DSSE encoding (enc) with key, hashed with h,
// and wraps it with the verification material given.
func handBundle(t *testing.T, material map[string]any, payload []byte, key crypto.Signer, h crypto.Hash, enc func(string, []byte) []byte) []byte {
	t.Helper()
	hh := h.New()
	hh.Write(enc(attest.InTotoPayloadType, payload))
	sig, err := key.Sign(rand.Reader, hh.Sum(nil), h)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{
		"mediaType":            attest.BundleMediaType,
		"verificationMaterial": material,
		"dsseEnvelope": map[string]any{
			"payload":     payload,
			"payloadType": attest.InTotoPayloadType,
			"signatures":  []any{map[string]any{"sig": sig, "keyid": nil}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func chainMaterial(certs ...*x509.Certificate) map[string]any {
	var list []any
	for _, c := range certs {
		list = append(list, map[string]any{"rawBytes": c.Raw})
	}
	return map[string]any{"x509CertificateChain": map[string]any{"certificates": list}}
}

func TestCertificateMethod(t *testing.T) {
	t.Parallel()
	dir := newModel(t)
	st := statementFor(t, dir, "config.json", "docs/README.md", "model.safetensors", "name with spaces:and:",
		"sub/.git/config", "tokenizer/merges.txt", "tokenizer/vocab.txt")
	ca := newCert(t, "root", nil, nil)
	inter := newCert(t, "intermediate", ca, nil)
	leafOpts := func(f func(*x509.Certificate)) *testCert {
		return newCert(t, "signer", inter, func(c *x509.Certificate) {
			c.IsCA, c.KeyUsage, c.ExtKeyUsage = false, x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
			if f != nil {
				f(c)
			}
		})
	}
	leaf := leafOpts(nil)
	caVerifier, err := oms.CertificateVerifier(pemOf(ca.cert))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(l *testCert, chain ...*x509.Certificate) []byte {
		return handBundle(t, chainMaterial(chain...), st, l.key, crypto.SHA256, oms.PAE)
	}

	res, err := oms.Verify(ctx, dir, sign(leaf, leaf.cert, inter.cert), caVerifier, oms.VerifyOptions{})
	if err != nil || res.Method != oms.SigningCertificate || res.Signer != "CN=signer" || res.Files != 7 {
		t.Fatalf("valid chain: %+v, %v", res, err)
	}

	other := newCert(t, "other root", nil, nil)
	otherVerifier, err := oms.CertificateVerifier(pemOf(other.cert))
	if err != nil {
		t.Fatal(err)
	}
	expired := leafOpts(func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	})
	noUsage := leafOpts(func(c *x509.Certificate) {
		c.KeyUsage, c.ExtKeyUsage = x509.KeyUsageKeyEncipherment, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	ekuOnly := leafOpts(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })
	for _, tt := range []struct {
		name     string
		bundle   []byte
		verifier oms.Verifier
		want     error
	}{
		{"other CA", sign(leaf, leaf.cert, inter.cert), otherVerifier, errdef.ErrUntrusted},
		{"no intermediate", sign(leaf, leaf.cert), caVerifier, errdef.ErrUntrusted},
		{"expired leaf", sign(expired, expired.cert, inter.cert), caVerifier, errdef.ErrUntrusted},
		{"leaf may not sign", sign(noUsage, noUsage.cert, inter.cert), caVerifier, errdef.ErrUntrusted},
		{"signed by another key", handBundle(t, chainMaterial(leaf.cert, inter.cert), st, inter.key, crypto.SHA256, oms.PAE), caVerifier, errdef.ErrBadSignature},
		{"key bundle", handBundle(t, map[string]any{"publicKey": map[string]any{"hint": "x"}}, st, leaf.key, crypto.SHA256, oms.PAE), caVerifier, errdef.ErrUntrusted},
		{"garbage certificate", handBundle(t, map[string]any{"x509CertificateChain": map[string]any{"certificates": []any{map[string]any{"rawBytes": []byte("junk")}}}}, st, leaf.key, crypto.SHA256, oms.PAE), caVerifier, errdef.ErrBadBundle},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := oms.Verify(ctx, dir, tt.bundle, tt.verifier, oms.VerifyOptions{}); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// Extended key usage codeSigning is enough, as for the reference.
	if _, err := oms.Verify(ctx, dir, sign(ekuOnly, ekuOnly.cert, inter.cert), caVerifier, oms.VerifyOptions{}); err != nil {
		t.Fatalf("codeSigning leaf: %v", err)
	}
	if _, err := oms.CertificateVerifier([]byte("no certificates")); err == nil {
		t.Fatal("CA file without certificates accepted")
	}
}

// TestLegacyPredicate: model_signing v0.2.0 signed
// https://model_signing/Digests/v0.1 statements (each file a subject), and
// signed its DSSE encoding wrongly; the reference verifies both, and so
// does vessel.
func TestLegacyPredicate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "legacy")
	writeFile(t, filepath.Join(dir, "signme-1"), "signme-1")
	writeFile(t, filepath.Join(dir, "signme-2"), "signme-2")
	var subjects []any
	for _, n := range []string{"signme-1", "signme-2"} {
		sum := sha256.Sum256(readFile(t, filepath.Join(dir, n)))
		subjects = append(subjects, map[string]any{"name": n, "digest": map[string]string{"sha256": hex.EncodeToString(sum[:])}})
	}
	st, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       subjects,
		"predicateType": oms.LegacyPredicateType,
		"predicate":     map[string]any{},
	})
	key, ok := privateKeyOf(t).(*ecdsa.PrivateKey)
	if !ok {
		t.Fatal("reference key is not ECDSA")
	}
	material := map[string]any{"publicKey": map[string]any{
		"rawBytes":   readFile(t, testdata(t, "model-transparency/scripts/tests/keys/certificate/signing-key-pub.pem")),
		"keyDetails": "PKIX_ECDSA_P384_SHA_384",
	}}
	for name, enc := range map[string]func(string, []byte) []byte{"v0.2.0 encoding": oms.PAECompat, "DSSE encoding": oms.PAE} {
		b := handBundle(t, material, st, key, crypto.SHA384, enc)
		res, err := oms.Verify(ctx, dir, b, refKeyVerifier(t), oms.VerifyOptions{})
		if err != nil || res.PredicateType != oms.LegacyPredicateType || res.Files != 2 {
			t.Fatalf("%s: %+v, %v", name, res, err)
		}
	}
	writeFile(t, filepath.Join(dir, "signme-2"), "changed!")
	if _, err := oms.Verify(ctx, dir, handBundle(t, material, st, key, crypto.SHA384, oms.PAECompat), refKeyVerifier(t), oms.VerifyOptions{}); !errors.Is(err, errdef.ErrModelMismatch) {
		t.Fatalf("changed file: err = %v", err)
	}
}

func privateKeyOf(t *testing.T) crypto.PrivateKey {
	t.Helper()
	raw := readFile(t, testdata(t, "model-transparency/scripts/tests/keys/certificate/signing-key.pem"))
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("no PEM block")
	}
	k, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestStatement: building a statement from known digests (as for a pushed
// model whose raw layer digests are its files' sha256).
func TestStatement(t *testing.T) {
	t.Parallel()
	d := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	ser := oms.Serialization{Method: oms.MethodFiles, HashType: oms.HashSHA256, IgnorePaths: []string{".gitignore", ".git", ".git"}}
	st, err := oms.Statement("llama", []oms.Resource{{Name: "b.bin", Digest: d("b")}, {Name: "a/c.json", Digest: d("c")}}, ser)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Subject []struct {
			Name   string
			Digest map[string]string
		}
		Predicate struct {
			Resources     []oms.Resource
			Serialization oms.Serialization
		}
	}
	if err := json.Unmarshal(st, &got); err != nil {
		t.Fatal(err)
	}
	root := sha256.New()
	for _, s := range []string{"c", "b"} {
		sum := sha256.Sum256([]byte(s))
		root.Write(sum[:])
	}
	if got.Subject[0].Name != "llama" || got.Subject[0].Digest["sha256"] != hex.EncodeToString(root.Sum(nil)) ||
		got.Predicate.Resources[0].Name != "a/c.json" || got.Predicate.Resources[0].Algorithm != "sha256" ||
		len(got.Predicate.Serialization.IgnorePaths) != 2 {
		t.Fatalf("statement = %s", st)
	}
	for name, rs := range map[string][]oms.Resource{
		"none":          nil,
		"not canonical": {{Name: "./a", Digest: d("a")}},
		"absolute":      {{Name: "/a", Digest: d("a")}},
		"parent":        {{Name: "../a", Digest: d("a")}},
		"twice":         {{Name: "a", Digest: d("a")}, {Name: "a", Digest: d("b")}},
		"short digest":  {{Name: "a", Digest: "abcd"}},
		"upper hex":     {{Name: "a", Digest: "AB" + d("a")[2:]}},
		"algorithm":     {{Name: "a", Digest: d("a"), Algorithm: "blake2b"}},
	} {
		if _, err := oms.Statement("m", rs, ser); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	shards := oms.Serialization{Method: oms.MethodShards, HashType: oms.HashSHA256, ShardSize: 10}
	for name, rs := range map[string][]oms.Resource{
		"no range":      {{Name: "a", Digest: d("a")}},
		"misaligned":    {{Name: "a:5:10", Digest: d("a")}},
		"over size":     {{Name: "a:0:11", Digest: d("a")}},
		"empty range":   {{Name: "a:10:10", Digest: d("a")}},
		"signed offset": {{Name: "a:-0:10", Digest: d("a")}},
	} {
		if _, err := oms.Statement("m", rs, shards); err == nil {
			t.Errorf("shards %s: accepted", name)
		}
	}
	// Both algorithm spellings are accepted for shards; the reference's is
	// the default.
	st, err = oms.Statement("m", []oms.Resource{{Name: "a:b:0:10", Digest: d("a")}, {Name: "a:b:10:12", Digest: d("b"), Algorithm: "sha256"}}, shards)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(st, &got); err != nil || got.Predicate.Resources[0].Algorithm != "sha256-sharded-10" || got.Predicate.Resources[1].Algorithm != "sha256" {
		t.Fatalf("shard statement = %s (%v)", st, err)
	}
}

func TestVerifyModelPath(t *testing.T) {
	t.Parallel()
	dir := newModel(t)
	b, err := oms.Sign(ctx, dir, refSigner(t), oms.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A model path that is a link is refused unless links are allowed, as
	// the reference does.
	link := filepath.Join(t.TempDir(), "current")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if _, err := oms.Verify(ctx, link, b, refKeyVerifier(t), oms.VerifyOptions{}); !errors.Is(err, errdef.ErrModelMismatch) {
		t.Fatalf("linked model path: err = %v", err)
	}
	if _, err := oms.Verify(ctx, link, b, refKeyVerifier(t), oms.VerifyOptions{AllowSymlinks: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := oms.Verify(ctx, filepath.Join(dir, "nope"), b, refKeyVerifier(t), oms.VerifyOptions{}); err == nil {
		t.Fatal("missing model verified")
	}
	if _, err := oms.Verify(ctx, dir, b, nil, oms.VerifyOptions{}); !errors.Is(err, errdef.ErrUntrusted) {
		t.Fatalf("no verifier: err = %v", err)
	}
	if _, err := oms.Verify(ctx, dir, b, oms.SignerVerifier(), oms.VerifyOptions{}); !errors.Is(err, errdef.ErrUntrusted) {
		t.Fatalf("no keys: err = %v", err)
	}
}

// TestSingleFileSpecName: spec 6.1.2 names a single-file model's resource
// after the file; the reference writes "."; both verify.
func TestSingleFileSpecName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "model.gguf")
	writeFile(t, file, "gguf weights")
	sum := sha256.Sum256([]byte("gguf weights"))
	for _, name := range []string{"model.gguf", "."} {
		st, err := oms.Statement("model.gguf", []oms.Resource{{Name: name, Digest: hex.EncodeToString(sum[:])}}, oms.Serialization{Method: oms.MethodFiles, HashType: oms.HashSHA256})
		if err != nil {
			t.Fatal(err)
		}
		b, err := oms.SignStatement(ctx, refSigner(t), st)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := oms.Verify(ctx, file, b, refKeyVerifier(t), oms.VerifyOptions{}); err != nil || res.Files != 1 {
			t.Fatalf("resource %q: %+v, %v", name, res, err)
		}
	}
	// Another name is another file.
	st, _ := oms.Statement("x", []oms.Resource{{Name: "other.gguf", Digest: hex.EncodeToString(sum[:])}}, oms.Serialization{Method: oms.MethodFiles, HashType: oms.HashSHA256})
	b, err := oms.SignStatement(ctx, refSigner(t), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oms.Verify(ctx, file, b, refKeyVerifier(t), oms.VerifyOptions{}); !errors.Is(err, errdef.ErrModelMismatch) {
		t.Fatalf("other name: err = %v", err)
	}
}

// TestCosignHint: a bundle whose hint is cosign's (base64 sha256 of the
// DER) names the same key and is accepted.
func TestCosignHint(t *testing.T) {
	t.Parallel()
	dir := newModel(t)
	st := statementFor(t, dir, "config.json", "docs/README.md", "model.safetensors", "name with spaces:and:",
		"sub/.git/config", "tokenizer/merges.txt", "tokenizer/vocab.txt")
	s := refSigner(t)
	b, err := s.Sign(ctx, st, attest.CosignHint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oms.Verify(ctx, dir, b, refKeyVerifier(t), oms.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// MinBundleSize is a lower bound of the bundle a signer writes, whatever
// the names' lengths, so a writer refusing by it never refuses a model it
// could sign.
func TestMinBundleSizeIsALowerBound(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a", "train/c00000/00000.bin", strings.Repeat("long/", 40) + "x"} {
		var rs []oms.Resource
		for i := range 2000 {
			sum := sha256.Sum256(fmt.Appendf(nil, "%d", i))
			rs = append(rs, oms.Resource{Name: fmt.Sprintf("%s%05d", name, i), Digest: hex.EncodeToString(sum[:])})
		}
		st, err := oms.Statement("m", rs, oms.Serialization{Method: oms.MethodFiles, HashType: oms.HashSHA256})
		if err != nil {
			t.Fatal(err)
		}
		b, err := oms.SignStatement(ctx, refSigner(t), st)
		if err != nil {
			t.Fatal(err)
		}
		if min := oms.MinBundleSize(len(rs), oms.NameBytes(rs)); min > int64(len(b)) || min < int64(len(b))/2 {
			t.Errorf("names like %q: MinBundleSize %d, bundle %d bytes", name, min, len(b))
		}
	}
}
