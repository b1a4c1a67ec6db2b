package workflow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
)

// Attest signs an in-toto statement of predicateType about the model repo
// names (its manifest digest) and stores it beside the model, like a
// signature. predicate must be a JSON object.
func Attest(ctx context.Context, repo Repository, signer attest.Signer, predicateType string, predicate json.RawMessage) (*SignResult, error) {
	if predicateType == "" {
		return nil, fmt.Errorf("attest %s: a predicate type is required", repo.Reference())
	}
	m, err := Resolve(ctx, repo, artifact.Limits{})
	if err != nil {
		return nil, fmt.Errorf("attest %w", err)
	}
	stmt, err := attest.Statement(m.Desc.Digest, scopeName(m.Ref), predicateType, predicate)
	if err != nil {
		return nil, fmt.Errorf("attest %s: %w", m.Ref, err)
	}
	desc, err := attach(ctx, repo, m, signer, stmt, predicateType)
	if err != nil {
		return nil, fmt.Errorf("attest %s: %w", m.Ref, err)
	}
	res := &SignResult{Reference: m.Ref.String(), Digest: m.Desc.Digest, Signature: desc, PredicateType: predicateType}
	res.describe(signer)
	return res, nil
}

// Attestation is one verified attestation of a model.
type Attestation struct {
	Source        string        `json:"source"`
	Digest        digest.Digest `json:"digest"`
	PredicateType string        `json:"predicateType"`
	Signer        string        `json:"signer"`
	KeyID         string        `json:"keyId,omitempty"`
	// Identity and Issuer: a keyless signer's, from its certificate.
	Identity string `json:"identity,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	CA       string `json:"ca,omitempty"`
	Created  string `json:"created,omitempty"`
	// Statement is the verified in-toto statement, predicate included.
	Statement json.RawMessage `json:"statement"`
}

// AttestationList is what Attestations found.
type AttestationList struct {
	Reference    string        `json:"reference"`
	Digest       digest.Digest `json:"digest"`
	Attestations []Attestation `json:"attestations"`
	// Refused lists statements that did not verify with a trusted key.
	Refused []SignatureCheck `json:"refused"`
}

// Attestations verifies and lists the attestations of the model repo names
// that a signer trusted by policy made, optionally only those of
// predicateType. Signatures (cosign sign statements) are not listed.
func Attestations(ctx context.Context, repo Source, policy *attest.Policy, predicateType string) (*AttestationList, error) {
	m, err := Resolve(ctx, repo, artifact.Limits{})
	if err != nil {
		return nil, fmt.Errorf("attestations %w", err)
	}
	if policy == nil {
		return nil, fmt.Errorf("attestations %s: %w", m.Ref, ErrNoTrust)
	}
	scope, err := policy.ScopeFor(scopeName(m.Ref))
	if err != nil {
		return nil, fmt.Errorf("attestations %s: %w", m.Ref, err)
	}
	if scope.Reject {
		return nil, fmt.Errorf("attestations %s: %w: policy scope %q rejects it", m.Ref, errdef.ErrUntrusted, scope.Scope)
	}
	checks, err := findStatements(ctx, repo, m, verifiersFor(scope.AllKeys()), map[digest.Digest]*OMSSignature{})
	if err != nil {
		return nil, fmt.Errorf("attestations %s: %w", m.Ref, err)
	}
	out := &AttestationList{Reference: m.Ref.String(), Digest: m.Desc.Digest, Attestations: []Attestation{}, Refused: []SignatureCheck{}}
	for _, c := range checks {
		switch {
		case c.IsSignature():
		case c.Verified && !scope.TrustsFor(c.Signer, c.PredicateType):
			c.Verified, c.Error = false, fmt.Sprintf("%v: signed by %s, whom the policy trusts for other statements only", errdef.ErrUntrusted, c.Signer)
			if predicateType == "" || c.PredicateType == predicateType {
				out.Refused = append(out.Refused, c)
			}
		case !c.Verified:
			if predicateType == "" || c.Claimed == predicateType {
				out.Refused = append(out.Refused, c)
			}
		case predicateType == "" || c.PredicateType == predicateType:
			out.Attestations = append(out.Attestations, Attestation{
				Source: c.Source, Digest: c.Digest, PredicateType: c.PredicateType,
				Signer: c.Signer, KeyID: c.KeyID, Identity: c.Identity, Issuer: c.Issuer, CA: c.CA, Created: c.Created, Statement: c.Statement,
			})
		}
	}
	return out, nil
}
