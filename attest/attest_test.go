package attest

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/internal/testutil/sigstoretest"
)

// sigstoretestRoot is a trusted_root.json of an in-memory Sigstore.
func sigstoretestRoot(t testing.TB) []byte {
	return sigstoretest.New(t).TrustedRootJSON(t, false)
}

// caPEM is a test CA's root and intermediate certificates.
func caPEM(t testing.TB) []byte {
	b, err := os.ReadFile(testutil.NewCA(t, "fuzz").SigningKey(t, "a@b").CA)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var subject = digest.FromString("the model manifest")

func newCosignKey(t testing.TB) (*KeySigner, TrustedSigner, []byte) {
	t.Helper()
	priv, pub, err := GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadPrivateKey(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, TrustedSigner{Name: "release", Key: v}, pub
}

func TestCosignKeyPair(t *testing.T) {
	t.Parallel()
	priv, pub, err := GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if !IsEncrypted(priv) || !strings.Contains(string(priv), "ENCRYPTED SIGSTORE PRIVATE KEY") {
		t.Fatalf("private key is not in cosign's encrypted format:\n%s", priv)
	}
	if _, err := LoadPrivateKey(priv, []byte("wrong")); !errors.Is(err, ErrKey) {
		t.Fatalf("wrong password: err = %v, want ErrKey", err)
	}
	if _, err := LoadPublicKey(pub); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPublicKey([]byte("not a key")); !errors.Is(err, ErrKey) {
		t.Fatalf("garbage public key: err = %v", err)
	}
}

// plainKeys returns PKCS#8 PEM private keys of every supported plain type.
func plainKeys(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for name, k := range map[string]any{"p256": p256, "p384": p384, "ed25519": ed} {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return out
}

func TestSignVerifyRoundTripAllKeyTypes(t *testing.T) {
	t.Parallel()
	stmt, err := Statement(subject, "", CosignSignPredicate, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, keyPEM := range plainKeys(t) {
		t.Run(name, func(t *testing.T) {
			s, err := LoadPrivateKey(keyPEM, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := SignStatement(context.Background(), s, stmt)
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := s.PublicKey()
			pubPEM, _ := cryptoutils.MarshalPublicKeyToPEM(pub)
			v, _ := LoadPublicKey(pubPEM)
			got, err := VerifyBundle(b, subject, []TrustedSigner{{Name: name, Key: v}})
			if err != nil {
				t.Fatal(err)
			}
			if got.Signer != name || got.PredicateType != CosignSignPredicate || got.KeyID != KeyID(pub) {
				t.Fatalf("verified = %+v", got)
			}
		})
	}
}

// The bundle must be what cosign writes: v0.3, a public key hint, a DSSE
// envelope over an in-toto v1 statement whose subject is the digest alone.
func TestBundleHasCosignShape(t *testing.T) {
	t.Parallel()
	s, _, _ := newCosignKey(t)
	stmt, _ := Statement(subject, "", CosignSignPredicate, nil)
	b, err := SignStatement(context.Background(), s, stmt)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		MediaType            string `json:"mediaType"`
		VerificationMaterial struct {
			PublicKey struct {
				Hint string `json:"hint"`
			} `json:"publicKey"`
		} `json:"verificationMaterial"`
		DsseEnvelope struct {
			Payload     string `json:"payload"`
			PayloadType string `json:"payloadType"`
			Signatures  []struct {
				Sig string `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	pub, _ := s.PublicKey()
	if got.MediaType != BundleMediaType || got.VerificationMaterial.PublicKey.Hint != KeyID(pub) ||
		got.DsseEnvelope.PayloadType != InTotoPayloadType || len(got.DsseEnvelope.Signatures) != 1 {
		t.Fatalf("bundle shape: %s", b)
	}
	payload, _ := base64.StdEncoding.DecodeString(got.DsseEnvelope.Payload)
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if st["_type"] != "https://in-toto.io/Statement/v1" || st["predicateType"] != CosignSignPredicate {
		t.Fatalf("statement: %s", payload)
	}
	if _, has := st["predicate"]; has {
		t.Fatalf("cosign's signature statement has no predicate: %s", payload)
	}
}

func TestVerifyBundleRefusals(t *testing.T) {
	t.Parallel()
	s, key, _ := newCosignKey(t)
	_, other, _ := newCosignKey(t)
	stmt, _ := Statement(subject, "", CosignSignPredicate, nil)
	good, err := SignStatement(context.Background(), s, stmt)
	if err != nil {
		t.Fatal(err)
	}
	var tampered map[string]any
	_ = json.Unmarshal(good, &tampered)
	env := tampered["dsseEnvelope"].(map[string]any)
	otherStmt, _ := Statement(digest.FromString("another model"), "", CosignSignPredicate, nil)
	env["payload"] = base64.StdEncoding.EncodeToString(otherStmt) // signature no longer matches
	tamperedJSON, _ := json.Marshal(tampered)

	tests := []struct {
		name    string
		bundle  []byte
		subject digest.Digest
		keys    []TrustedSigner
		want    error
	}{
		{"wrong key", good, subject, []TrustedSigner{other}, errdef.ErrBadSignature},
		{"no keys", good, subject, nil, errdef.ErrUntrusted},
		{"other subject", good, digest.FromString("x"), []TrustedSigner{key}, errdef.ErrSubjectMismatch},
		{"tampered payload", tamperedJSON, subject, []TrustedSigner{key}, errdef.ErrBadSignature},
		{"not JSON", []byte("{"), subject, []TrustedSigner{key}, errdef.ErrBadSignature},
		{"empty", nil, subject, []TrustedSigner{key}, errdef.ErrBadSignature},
		{"too large", make([]byte, MaxBundleSize+1), subject, []TrustedSigner{key}, errdef.ErrBadSignature},
	}
	for _, tt := range tests {
		if _, err := VerifyBundle(tt.bundle, tt.subject, tt.keys); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// Any one of several keys suffices.
	if got, err := VerifyBundle(good, subject, []TrustedSigner{other, key}); err != nil || got.Signer != "release" {
		t.Fatalf("second key: %+v, %v", got, err)
	}
}

func classicLayer(t testing.TB, s *KeySigner, d digest.Digest) (ocispec.Descriptor, []byte) {
	t.Helper()
	payload := []byte(`{"critical":{"identity":{"docker-reference":"r.example/m"},"image":{"docker-manifest-digest":"` + d.String() + `"},"type":"cosign container image signature"},"optional":null}`)
	sig, err := s.SignMessage(strings.NewReader(string(payload)))
	if err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: SimpleSigningMediaType, Digest: digest.FromBytes(payload), Size: int64(len(payload)),
		Annotations: map[string]string{classicSigAnnotation: base64.StdEncoding.EncodeToString(sig)}}, payload
}

func TestVerifyClassic(t *testing.T) {
	t.Parallel()
	s, key, _ := newCosignKey(t)
	_, other, _ := newCosignKey(t)
	l, payload := classicLayer(t, s, subject)
	if got, err := VerifyClassic(l, payload, subject, []TrustedSigner{key}); err != nil || got.Signer != "release" {
		t.Fatalf("classic: %+v, %v", got, err)
	}
	if _, err := VerifyClassic(l, payload, subject, []TrustedSigner{other}); !errors.Is(err, errdef.ErrBadSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := VerifyClassic(l, payload, digest.FromString("x"), []TrustedSigner{key}); !errors.Is(err, errdef.ErrSubjectMismatch) {
		t.Fatalf("other digest: %v", err)
	}
	if ClassicTag(subject) != "sha256-"+subject.Encoded()+".sig" {
		t.Fatal(ClassicTag(subject))
	}
}

func TestStatementPredicate(t *testing.T) {
	t.Parallel()
	st, err := Statement(subject, "r.example/m", "https://slsa.dev/provenance/v1", json.RawMessage(`{"buildDefinition":{"buildType":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(st), `"buildType":"x"`) || !strings.Contains(string(st), `"name":"r.example/m"`) {
		t.Fatalf("statement: %s", st)
	}
	if _, err := Statement(subject, "", "t", json.RawMessage(`[1,2]`)); err == nil {
		t.Fatal("array predicate accepted")
	}
}

func writeKey(t *testing.T, dir, name string) string {
	t.Helper()
	_, _, pub := newCosignKey(t)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeKey(t, dir, "a.pub")
	writeKey(t, dir, "b.pub")
	good := `
version: 1
scopes:
  - scope: "registry.example/team/**"
    threshold: 2
    signers:
      - {name: a, key: a.pub}
      - {name: b, key: b.pub}
  - scope: "registry.example/team/experimental/*"
    signers: [{name: a, key: a.pub}]
  - scope: "registry.example/quarantine/**"
    reject: true
`
	p, err := ParsePolicy([]byte(good), dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"registry.example/team/llama":            "registry.example/team/**",
		"registry.example/team/sub/llama":        "registry.example/team/**",
		"registry.example/team/experimental/x":   "registry.example/team/experimental/*",
		"registry.example/team/experimental/x/y": "registry.example/team/**",
		"registry.example/quarantine/bad":        "registry.example/quarantine/**",
	} {
		s, err := p.ScopeFor(name)
		if err != nil || s.Scope != want {
			t.Errorf("ScopeFor(%q) = %v, %v; want %q", name, s, err, want)
		}
	}
	if _, err := p.ScopeFor("elsewhere.example/m"); !errors.Is(err, errdef.ErrUntrusted) {
		t.Errorf("unmatched name: err = %v, want errdef.ErrUntrusted", err)
	}
	if s, _ := p.ScopeFor("registry.example/team/llama"); s.Need() != 2 || len(s.Keys()) != 2 {
		t.Errorf("threshold scope: need %d, %d keys", s.Need(), len(s.Keys()))
	}

	bad := map[string]string{
		"unknown field":      "version: 1\nscopes:\n  - scope: x\n    signers: [{name: a, key: a.pub}]\n    colour: red\n",
		"unknown top field":  "version: 1\nextra: 1\nscopes:\n  - scope: x\n    reject: true\n",
		"version":            "version: 2\nscopes:\n  - scope: x\n    reject: true\n",
		"no scopes":          "version: 1\n",
		"threshold too high": "version: 1\nscopes:\n  - scope: x\n    threshold: 2\n    signers: [{name: a, key: a.pub}]\n",
		"negative threshold": "version: 1\nscopes:\n  - scope: x\n    threshold: -1\n    signers: [{name: a, key: a.pub}]\n",
		"no signers":         "version: 1\nscopes:\n  - scope: x\n",
		"reject with signer": "version: 1\nscopes:\n  - scope: x\n    reject: true\n    signers: [{name: a, key: a.pub}]\n",
		"missing key file":   "version: 1\nscopes:\n  - scope: x\n    signers: [{name: a, key: nope.pub}]\n",
		"no key":             "version: 1\nscopes:\n  - scope: x\n    signers: [{name: a}]\n",
		"bad keyData":        "version: 1\nscopes:\n  - scope: x\n    signers: [{name: a, keyData: junk}]\n",
		"duplicate signer":   "version: 1\nscopes:\n  - scope: x\n    signers: [{name: a, key: a.pub}, {name: a, key: b.pub}]\n",
		"duplicate scope":    "version: 1\nscopes:\n  - scope: x\n    reject: true\n  - scope: x\n    reject: true\n",
		"empty scope":        "version: 1\nscopes:\n  - scope: ''\n    reject: true\n",
		"not YAML":           "{{{",
		"wrong type":         "version: one\n",
	}
	for name, doc := range bad {
		if _, err := ParsePolicy([]byte(doc), dir); !errors.Is(err, ErrPolicyFile) {
			t.Errorf("%s: err = %v, want ErrPolicyFile", name, err)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add("version: 1\nscopes:\n  - scope: \"a/**\"\n    reject: true\n", "a/b")
	f.Add("version: 1\nscopes:\n  - scope: \"*/*/**\"\n    reject: true\n  - scope: \"**\"\n    reject: true\n", "x/y/z")
	f.Add("version: 1\nscopes:\n  - scope: x\n    signers: [{name: a, keyData: k}]\n", "x")
	// Keyless, CA and witness signers: the files they name are in the
	// policy's directory; without a trustedRoot nothing is fetched.
	f.Add("version: 1\ntrustedRoot: tr.json\nscopes:\n  - scope: \"r/**\"\n    threshold: 2\n    signers:\n      - {name: ci, keyless: {issuer: \"https://i\", identityRegexp: \"^ci@\", timeProof: timestamp}}\n      - {name: v, certificateChain: {roots: ca.pem, identity: a@b}}\n", "r/m")
	f.Add("version: 1\nscopes:\n  - scope: \"**\"\n    trustedRoot: tr.json\n    signers: [{name: ci, keyless: {issuer: x, identity: y, insecureIgnoreSCT: true}}]\n    attestations:\n      - {witness: {step: train, products: allFiles}, signers: [{name: w, certificateChain: {roots: ca.pem}}]}\n", "a/b")
	dir := f.TempDir() // read only by the policies
	for n, b := range map[string][]byte{"tr.json": sigstoretestRoot(f), "ca.pem": caPEM(f)} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	fetchPublicRoot = func() (root.TrustedMaterial, error) { return nil, errors.New("fuzzing: no network") }
	f.Fuzz(func(t *testing.T, doc, name string) {
		p, err := ParsePolicy([]byte(doc), dir)
		if err != nil {
			if !errors.Is(err, ErrPolicyFile) {
				t.Fatalf("error without ErrPolicyFile: %v", err)
			}
			return
		}
		s, err := p.ScopeFor(name)
		if err != nil {
			return
		}
		if !s.Reject && (s.Need() < 1 || s.Need() > len(s.Keys())) {
			t.Fatalf("scope %q needs %d of %d keys", s.Scope, s.Need(), len(s.Keys()))
		}
	})
}

// dsseSign signs a statement into a bare DSSE envelope, as cosign's
// classic attestations are stored.
func dsseSign(s *KeySigner, statement []byte) ([]byte, error) {
	return dsse.WrapSigner(s, InTotoPayloadType).SignMessage(strings.NewReader(string(statement)))
}

func TestPolicyAttestationRequirements(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeKey(t, dir, "release.pub")
	writeKey(t, dir, "ci.pub")
	doc := `
version: 1
scopes:
  - scope: "**"
    signers: [{name: release, key: release.pub}]
    attestations:
      - type: https://slsa.dev/provenance/v1
        signers: [{name: ci, key: ci.pub}]
        checks:
          - {path: runDetails.builder.id, equals: "https://ci.example/runner"}
          - {path: runDetails.builder.id, matches: "^https://ci\\.example/"}
          - path: buildDefinition.resolvedDependencies
            contains: {name: dataset}
      - type: https://example.com/eval/v1
`
	p, err := ParsePolicy([]byte(doc), dir)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := p.ScopeFor("r.example/m")
	prov, eval := &s.Attestations[0], &s.Attestations[1]
	if !prov.Signed("ci") || prov.Signed("release") || !eval.Signed("release") || len(s.AllKeys()) != 2 || s.Signs("ci") {
		t.Fatalf("signers: prov ci=%v release=%v, eval release=%v, all=%d, scope signs ci=%v",
			prov.Signed("ci"), prov.Signed("release"), eval.Signed("release"), len(s.AllKeys()), s.Signs("ci"))
	}
	good := `{"runDetails":{"builder":{"id":"https://ci.example/runner"}},"buildDefinition":{"resolvedDependencies":[{"name":"base"},{"name":"dataset","uri":"x"}]}}`
	if err := prov.Evaluate(json.RawMessage(good)); err != nil {
		t.Fatal(err)
	}
	for name, pred := range map[string]string{
		"other builder": `{"runDetails":{"builder":{"id":"https://evil.example/"}},"buildDefinition":{"resolvedDependencies":[{"name":"dataset"}]}}`,
		"no dataset":    `{"runDetails":{"builder":{"id":"https://ci.example/runner"}},"buildDefinition":{"resolvedDependencies":[{"name":"base"}]}}`,
		"no builder":    `{"buildDefinition":{"resolvedDependencies":[{"name":"dataset"}]}}`,
		"not an object": `[1]`,
	} {
		if err := prov.Evaluate(json.RawMessage(pred)); !errors.Is(err, errdef.ErrUntrusted) {
			t.Errorf("%s: err = %v, want errdef.ErrUntrusted", name, err)
		}
	}
	for name, bad := range map[string]string{
		"two operators": "version: 1\nscopes:\n  - scope: x\n    signers: [{name: a, key: release.pub}]\n    attestations:\n      - type: t\n        checks: [{path: p, equals: a, matches: b}]\n",
		"bad regexp":    "version: 1\nscopes:\n  - scope: x\n    signers: [{name: a, key: release.pub}]\n    attestations:\n      - type: t\n        checks: [{path: p, matches: '('}]\n",
		"no type":       "version: 1\nscopes:\n  - scope: x\n    signers: [{name: a, key: release.pub}]\n    attestations: [{checks: []}]\n",
		"name reused":   "version: 1\nscopes:\n  - scope: x\n    signers: [{name: a, key: release.pub}]\n    attestations: [{type: t, signers: [{name: a, key: ci.pub}]}]\n",
		"reject + req":  "version: 1\nscopes:\n  - scope: x\n    reject: true\n    attestations: [{type: t}]\n",
	} {
		if _, err := ParsePolicy([]byte(bad), dir); !errors.Is(err, ErrPolicyFile) {
			t.Errorf("%s: err = %v, want ErrPolicyFile", name, err)
		}
	}
}

// The writer refuses what every reader would: a bundle over MaxBundleSize.
func TestSignStatementRefusesAnUnreadableBundle(t *testing.T) {
	s, k, _ := newCosignKey(t)
	d := digest.FromString("model")
	big := json.RawMessage(`{"blob":"` + strings.Repeat("a", MaxBundleSize*3/4) + `"}`)
	st, err := Statement(d, "m", "https://example.com/big/v1", big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SignStatement(context.Background(), s, st); err == nil || !strings.Contains(err.Error(), "attest.MaxBundleSize") {
		t.Fatalf("a %d-byte statement: %v, want the cap named", len(st), err)
	}
	small, _ := Statement(d, "m", "https://example.com/big/v1", json.RawMessage(`{"blob":"`+strings.Repeat("a", MaxBundleSize/2)+`"}`))
	b, err := SignStatement(context.Background(), s, small)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBundle(b, d, []TrustedSigner{k}); err != nil {
		t.Fatalf("a bundle under the cap must verify: %v", err)
	}
}
