package attest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/errdef"
)

// Decide is a pure function over findings: no registry, no signatures to
// check, only the verdict.
func TestDecide(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, k := range []string{"a.pub", "b.pub", "eval.pub"} {
		writeKey(t, dir, k)
	}
	p, err := ParsePolicy([]byte(`
version: 1
scopes:
  - scope: "reg/team/**"
    threshold: 2
    signers: [{name: a, key: a.pub}, {name: b, key: b.pub}]
    attestations:
      - type: https://example.com/eval/v1
        signers: [{name: eval, key: eval.pub}]
        checks: [{path: accuracy, equals: "0.9"}]
  - scope: "reg/quarantine/**"
    reject: true
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	team, err := p.ScopeFor("reg/team/m")
	if err != nil {
		t.Fatal(err)
	}
	subject := digest.FromString("model")
	sig := func(signer string) Finding {
		return Finding{Source: "referrer", Digest: digest.FromString(signer), Signer: signer, PredicateType: CosignSignPredicate, Verified: true}
	}
	eval := func(signer, accuracy string) Finding {
		return Finding{Source: "referrer", Digest: digest.FromString("eval" + signer + accuracy), Signer: signer, PredicateType: "https://example.com/eval/v1", Verified: true,
			Statement: json.RawMessage(`{"predicate":{"accuracy":"` + accuracy + `"}}`)}
	}
	bad := Finding{Source: "referrer", Digest: digest.FromString("bad"), Error: "bad signature"}
	for _, tc := range []struct {
		name     string
		findings []Finding
		want     error // nil: verified
		signers  int
	}{
		{"threshold and attestation met", []Finding{sig("a"), sig("b"), eval("eval", "0.9")}, nil, 2},
		{"one signer of two", []Finding{sig("a"), bad, eval("eval", "0.9")}, errdef.ErrUntrusted, 1},
		{"the same signer twice counts once", []Finding{sig("a"), sig("a"), eval("eval", "0.9")}, errdef.ErrUntrusted, 1},
		{"attestation-only key does not sign", []Finding{sig("a"), sig("eval"), eval("eval", "0.9")}, errdef.ErrUntrusted, 1},
		{"attestation check fails", []Finding{sig("a"), sig("b"), eval("eval", "0.5")}, errdef.ErrUntrusted, 2},
		{"attestation by the wrong signer", []Finding{sig("a"), sig("b"), eval("a", "0.9")}, errdef.ErrUntrusted, 2},
		{"model signature disagrees", []Finding{sig("a"), sig("b"), eval("eval", "0.9"), {Source: "referrer", Digest: digest.FromString("oms"), ModelMismatch: true, Error: "changed"}}, errdef.ErrModelMismatch, 0},
	} {
		d, err := team.Decide(subject, "reg/team/m", tc.findings)
		if tc.want == nil && (err != nil || !d.Verified) || tc.want != nil && (!errors.Is(err, tc.want) || d.Verified) {
			t.Errorf("%s: %+v, %v; want %v", tc.name, d, err, tc.want)
			continue
		}
		if tc.want != nil && !errors.Is(err, errdef.ErrVerification) {
			t.Errorf("%s: %v is not a verification failure", tc.name, err)
		}
		if len(d.Signers) != tc.signers {
			t.Errorf("%s: signers %v, want %d", tc.name, d.Signers, tc.signers)
		}
	}
	// Counted signatures are reported; the attestation-only key's is marked.
	d, _ := team.Decide(subject, "reg/team/m", []Finding{sig("a"), sig("eval")})
	if len(d.Signatures) != 2 || d.Signatures[1].Verified || !strings.Contains(d.Signatures[1].Error, "attestations only") {
		t.Errorf("signatures: %+v", d.Signatures)
	}
	// A trusted model signature is named; one by an untrusted key is not.
	oms := func(signer string) Finding {
		return Finding{Source: "referrer", Digest: digest.FromString("oms" + signer), Signer: signer, PredicateType: "https://model_signing/signature/v1.0", Verified: true, ModelSignature: true}
	}
	d, _ = team.Decide(subject, "reg/team/m", []Finding{sig("a"), sig("b"), oms("a"), oms("eval")})
	if len(d.ModelSignatures) != 1 || d.ModelSignatures[0].Signer != "a" {
		t.Errorf("model signatures: %+v", d.ModelSignatures)
	}
	quarantine, err := p.ScopeFor("reg/quarantine/m")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := quarantine.Decide(subject, "reg/quarantine/m", []Finding{sig("a"), sig("b")}); !errors.Is(err, errdef.ErrUntrusted) || d.Verified {
		t.Errorf("reject scope: %+v, %v", d, err)
	}
}
