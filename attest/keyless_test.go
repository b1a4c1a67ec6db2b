package attest_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/internal/testutil/sigstoretest"
)

const (
	ciIdentity = "ci@example.com"
	ciIssuer   = "https://issuer.example"
)

func keylessSigner(t *testing.T, k attest.Keyless) attest.TrustedSigner {
	t.Helper()
	kl, err := attest.NewKeyless(k)
	if err != nil {
		t.Fatal(err)
	}
	return attest.TrustedSigner{Name: "ci", Keyless: kl}
}

// A keyless signature verifies against identity rules and a trusted root,
// with the proof of time the rule asks for; every way it can fall short
// is refused, as an untrusted signer or a bad signature.
func TestVerifyKeyless(t *testing.T) {
	t.Parallel()
	model := digest.FromString("the model manifest")
	st, err := attest.Statement(model, "model", attest.CosignSignPredicate, nil)
	if err != nil {
		t.Fatal(err)
	}
	ss := sigstoretest.New(t)
	other := sigstoretest.New(t)
	noCT := ss.WithoutCTLogs()
	full := ss.Bundle(t, ciIdentity, ciIssuer, st, true, true)
	logOnly := ss.Bundle(t, ciIdentity, ciIssuer, st, true, false)
	tsOnly := ss.Bundle(t, ciIdentity, ciIssuer, st, false, true)
	noProof := ss.Bundle(t, ciIdentity, ciIssuer, st, false, false)
	rule := func(root root.TrustedMaterial, proof string) attest.Keyless {
		return attest.Keyless{Issuer: ciIssuer, Identity: ciIdentity, Root: root, TimeProof: proof}
	}
	tests := []struct {
		name   string
		bundle []byte
		rule   attest.Keyless
		want   error // nil: verified
	}{
		{"log and timestamp", full, rule(noCT, ""), nil},
		{"log only", logOnly, rule(noCT, ""), nil},
		{"timestamp only", tsOnly, rule(noCT, ""), nil},
		{"no proof of time", noProof, rule(noCT, ""), errdef.ErrBadSignature},
		{"log wanted, timestamp given", tsOnly, rule(noCT, attest.ProofLog), errdef.ErrBadSignature},
		{"timestamp wanted, log given", logOnly, rule(noCT, attest.ProofTimestamp), errdef.ErrBadSignature},
		{"both wanted, both given", full, rule(noCT, attest.ProofBoth), nil},
		{"both wanted, log given", logOnly, rule(noCT, attest.ProofBoth), errdef.ErrBadSignature},
		{"identity by regexp", full, attest.Keyless{IssuerRegexp: `^https://issuer\.example$`, IdentityRegexp: `^ci@`, Root: noCT}, nil},
		{"another identity", full, attest.Keyless{Issuer: ciIssuer, Identity: "release@example.com", Root: noCT}, errdef.ErrUntrusted},
		{"another issuer", full, attest.Keyless{Issuer: "https://token.actions.githubusercontent.com", Identity: ciIdentity, Root: noCT}, errdef.ErrUntrusted},
		{"identity regexp not matching", full, attest.Keyless{Issuer: ciIssuer, IdentityRegexp: `^release@`, Root: noCT}, errdef.ErrUntrusted},
		{"another Sigstore's root", full, rule(other.WithoutCTLogs(), ""), errdef.ErrBadSignature},
		// The root lists a CT log: a certificate without an SCT is refused
		// unless the rule relaxes it by name.
		{"root with CT logs, no SCT", full, rule(ss, ""), errdef.ErrBadSignature},
		{"root with CT logs, SCT ignored", full, attest.Keyless{Issuer: ciIssuer, Identity: ciIdentity, Root: ss, InsecureIgnoreSCT: true}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := keylessSigner(t, tc.rule)
			got, err := attest.VerifyBundle(tc.bundle, model, []attest.TrustedSigner{s})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyBundle: %v", err)
				}
				if got.Signer != "ci" || got.Identity != ciIdentity || got.Issuer != ciIssuer || got.PredicateType != attest.CosignSignPredicate {
					t.Fatalf("verified %+v", got)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyBundle = %v, want %v", err, tc.want)
			}
		})
	}

	// Without proof of time the message says what is missing.
	if _, err := attest.VerifyBundle(noProof, model, []attest.TrustedSigner{keylessSigner(t, rule(noCT, ""))}); err == nil || !strings.Contains(err.Error(), "no proof of when it was signed") {
		t.Errorf("no proof of time: %v", err)
	}

	// A keyless signature of another model is told apart.
	if _, err := attest.VerifyBundle(full, digest.FromString("another"), []attest.TrustedSigner{keylessSigner(t, rule(noCT, ""))}); !errors.Is(err, errdef.ErrSubjectMismatch) {
		t.Errorf("another subject: %v", err)
	}
	// A key signer is not satisfied by a keyless bundle, nor the reverse.
	signer, _, _ := newKey(t)
	keyed, err := attest.SignStatement(t.Context(), signer, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.VerifyBundle(keyed, model, []attest.TrustedSigner{keylessSigner(t, rule(noCT, ""))}); err == nil {
		t.Error("a key-signed bundle verified as keyless")
	}
	_, key, _ := newKey(t)
	if _, err := attest.VerifyBundle(full, model, []attest.TrustedSigner{key}); err == nil {
		t.Error("a keyless bundle verified with an unrelated key")
	}
}

func TestNewKeylessRefusesIncompleteRules(t *testing.T) {
	t.Parallel()
	ss := sigstoretest.New(t)
	for name, k := range map[string]attest.Keyless{
		"no root":           {Issuer: ciIssuer, Identity: ciIdentity},
		"no issuer":         {Identity: ciIdentity, Root: ss},
		"no identity":       {Issuer: ciIssuer, Root: ss},
		"issuer twice":      {Issuer: ciIssuer, IssuerRegexp: ".*", Identity: ciIdentity, Root: ss},
		"bad regexp":        {Issuer: ciIssuer, IdentityRegexp: "(", Root: ss},
		"unknown timeProof": {Issuer: ciIssuer, Identity: ciIdentity, Root: ss, TimeProof: "sometimes"},
	} {
		if _, err := attest.NewKeyless(k); !errors.Is(err, attest.ErrKey) {
			t.Errorf("%s: NewKeyless = %v, want ErrKey", name, err)
		}
	}
}

func newKey(t *testing.T) (attest.Signer, attest.TrustedSigner, []byte) {
	t.Helper()
	priv, pub, err := attest.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := attest.LoadPrivateKey(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, attest.TrustedSigner{Name: "release", Key: v}, pub
}

// A policy names keyless signers beside keys, with the trusted root each
// scope checks them against; both count toward one threshold.
func TestPolicyKeylessSigners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ss := sigstoretest.New(t)
	testutil.WriteTree(t, dir, map[string]string{
		"sigstore/trusted_root.json": string(ss.TrustedRootJSON(t, false)),
		"other_root.json":            string(sigstoretest.New(t).TrustedRootJSON(t, false)),
	})
	signer, _, pub := newKey(t)
	testutil.WriteTree(t, dir, map[string]string{"release.pub": string(pub)})
	doc := `version: 1
trustedRoot: sigstore/trusted_root.json
scopes:
  - scope: "registry.example/team/**"
    threshold: 2
    signers:
      - name: ci
        keyless: {issuer: "` + ciIssuer + `", identityRegexp: "^ci@example\\.com$"}
      - {name: release, key: release.pub}
  - scope: "registry.example/elsewhere/**"
    trustedRoot: other_root.json
    signers:
      - name: ci
        keyless: {issuer: "` + ciIssuer + `", identity: "` + ciIdentity + `"}
`
	p, err := attest.ParsePolicy([]byte(doc), dir)
	if err != nil {
		t.Fatal(err)
	}
	model := digest.FromString("the model manifest")
	st, _ := attest.Statement(model, "model", attest.CosignSignPredicate, nil)
	keyless := ss.Bundle(t, ciIdentity, ciIssuer, st, true, true)
	keyed, err := attest.SignStatement(t.Context(), signer, st)
	if err != nil {
		t.Fatal(err)
	}
	team, err := p.ScopeFor("registry.example/team/llm")
	if err != nil {
		t.Fatal(err)
	}
	var findings []attest.Finding
	for _, b := range [][]byte{keyless, keyed} {
		v, err := attest.VerifyBundle(b, model, team.Keys())
		if err != nil {
			t.Fatalf("team scope: %v", err)
		}
		findings = append(findings, attest.Finding{Source: "referrer", Signer: v.Signer, PredicateType: v.PredicateType, Verified: true})
	}
	if d, err := team.Decide(model, "registry.example/team/llm", findings); err != nil {
		t.Fatalf("two signers, one keyless: %v (%+v)", err, d)
	}
	if _, err := team.Decide(model, "registry.example/team/llm", findings[:1]); !errors.Is(err, errdef.ErrUntrusted) {
		t.Fatalf("the keyless signer alone under threshold 2: %v", err)
	}
	elsewhere, err := p.ScopeFor("registry.example/elsewhere/m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.VerifyBundle(keyless, model, elsewhere.Keys()); !errors.Is(err, errdef.ErrBadSignature) {
		t.Fatalf("a scope trusting another Sigstore's root accepted it: %v", err)
	}

	for name, bad := range map[string]string{
		"key and keyless":      "version: 1\ntrustedRoot: sigstore/trusted_root.json\nscopes:\n  - scope: \"**\"\n    signers: [{name: ci, key: release.pub, keyless: {issuer: x, identity: y}}]\n",
		"no identity":          "version: 1\ntrustedRoot: sigstore/trusted_root.json\nscopes:\n  - scope: \"**\"\n    signers: [{name: ci, keyless: {issuer: x}}]\n",
		"missing root":         "version: 1\ntrustedRoot: nowhere.json\nscopes:\n  - scope: \"**\"\n    signers: [{name: ci, keyless: {issuer: x, identity: y}}]\n",
		"key and CA":           "version: 1\nscopes:\n  - scope: \"**\"\n    signers: [{name: v, key: release.pub, certificateChain: {roots: release.pub}}]\n",
		"CA without roots":     "version: 1\nscopes:\n  - scope: \"**\"\n    signers: [{name: v, certificateChain: {identity: x}}]\n",
		"CA not a certificate": "version: 1\nscopes:\n  - scope: \"**\"\n    signers: [{name: v, certificateChain: {roots: release.pub}}]\n",
		"unknown field":        "version: 1\ntrustedRoot: sigstore/trusted_root.json\nscopes:\n  - scope: \"**\"\n    signers: [{name: ci, keyless: {issuer: x, identity: y, subject: z}}]\n",
	} {
		if _, err := attest.ParsePolicy([]byte(bad), dir); !errors.Is(err, attest.ErrPolicyFile) {
			t.Errorf("%s: ParsePolicy = %v, want ErrPolicyFile", name, err)
		}
	}
}

// A classic keyless signature whose proof of time is a Rekor entry (the
// "bundle" annotation cosign v2 writes by default) verifies through the
// entry's inclusion promise; a forged promise, an entry for another
// signature, or another identity is refused.
func TestClassicKeylessWithRekorEntry(t *testing.T) {
	t.Parallel()
	ss := sigstoretest.New(t)
	model := digest.FromString("the model manifest")
	payload := []byte(`{"critical":{"identity":{"docker-reference":"r.example/m"},"image":{"docker-manifest-digest":"` + model.String() + `"},"type":"cosign container image signature"},"optional":null}`)
	signed := func(payload []byte) (cert, sig, rekor string) {
		e, err := ss.Sign(ciIdentity, ciIssuer, payload)
		if err != nil {
			t.Fatal(err)
		}
		vc, _ := e.VerificationContent()
		sc, _ := e.SignatureContent()
		entries, _ := e.TlogEntries()
		tle := entries[0].TransparencyLogEntry()
		p := tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody), IntegratedTime: tle.IntegratedTime,
			LogIndex: tle.LogIndex, LogID: hex.EncodeToString(tle.LogId.KeyId)}
		set, err := ss.RekorSignPayload(p)
		if err != nil {
			t.Fatal(err)
		}
		ann, _ := json.Marshal(map[string]any{"SignedEntryTimestamp": set, "Payload": p})
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vc.(*bundle.Certificate).Certificate().Raw})),
			base64.StdEncoding.EncodeToString(sc.(*bundle.MessageSignature).Signature()), string(ann)
	}
	layer := func(cert, sig, rekor string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: attest.SimpleSigningMediaType, Annotations: map[string]string{
			"dev.cosignproject.cosign/signature": sig,
			"dev.sigstore.cosign/certificate":    cert,
			"dev.sigstore.cosign/bundle":         rekor,
		}}
	}
	s := keylessSigner(t, attest.Keyless{Issuer: ciIssuer, Identity: ciIdentity, Root: ss.WithoutCTLogs()})
	cert, sig, rekor := signed(payload)
	v, err := attest.VerifyClassic(layer(cert, sig, rekor), payload, model, []attest.TrustedSigner{s})
	if err != nil {
		t.Fatalf("VerifyClassic: %v", err)
	}
	if v.Identity != ciIdentity || v.Issuer != ciIssuer {
		t.Fatalf("verified %+v", v)
	}
	forged := strings.Replace(rekor, `"SignedEntryTimestamp":"M`, `"SignedEntryTimestamp":"N`, 1)
	_, otherSig, otherRekor := signed([]byte("another payload"))
	for name, l := range map[string]ocispec.Descriptor{
		"forged promise":            layer(cert, sig, forged),
		"another signature's entry": layer(cert, sig, otherRekor),
		"no entry body":             layer(cert, sig, `{"SignedEntryTimestamp":"MEUCIQ==","Payload":{}}`),
		"entry without signature":   layer(cert, otherSig, rekor),
	} {
		if _, err := attest.VerifyClassic(l, payload, model, []attest.TrustedSigner{s}); !errors.Is(err, errdef.ErrBadSignature) {
			t.Errorf("%s: VerifyClassic = %v, want ErrBadSignature", name, err)
		}
	}
	other := keylessSigner(t, attest.Keyless{Issuer: ciIssuer, Identity: "release@example.com", Root: ss.WithoutCTLogs()})
	if _, err := attest.VerifyClassic(layer(cert, sig, rekor), payload, model, []attest.TrustedSigner{other}); !errors.Is(err, errdef.ErrUntrusted) {
		t.Errorf("another identity: VerifyClassic = %v, want ErrUntrusted", err)
	}
}
