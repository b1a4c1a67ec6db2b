package attest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/errdef"
)

// Finding is one signed statement found for an artifact, and what checking
// it showed: the evidence a trust decision is made from. Fetching and
// checking each one (bundle, classic signature, OMS signature) is the
// caller's work; Decide only weighs them.
type Finding struct {
	// Source is "referrer" (a bundle), "classic" (a cosign .sig tag) or
	// "classic-attestation" (a cosign .att tag).
	Source string `json:"source"`
	// Digest is the referrer manifest's, or the classic payload layer's.
	Digest digest.Digest `json:"digest"`
	Signer string        `json:"signer,omitempty"`
	KeyID  string        `json:"keyId,omitempty"`
	// Identity and Issuer are what a keyless signer's certificate says;
	// Identity and CA what a certificate from the signer's own CA says.
	Identity      string `json:"identity,omitempty"`
	Issuer        string `json:"issuer,omitempty"`
	CA            string `json:"ca,omitempty"`
	PredicateType string `json:"predicateType,omitempty"`
	Created       string `json:"created,omitempty"`
	Verified      bool   `json:"verified"`
	Error         string `json:"error,omitempty"`
	// Claimed is the predicate type the referrer's annotation or tag says,
	// unverified: it only decides which failures are reported as failed
	// signatures.
	Claimed string `json:"-"`
	// Statement is the verified in-toto statement (JSON).
	Statement json.RawMessage `json:"-"`
	// ModelSignature marks a verified OpenSSF model signature whose files
	// agree with the artifact's; ModelMismatch one from a trusted key
	// whose files do not.
	ModelSignature bool `json:"-"`
	ModelMismatch  bool `json:"-"`
}

// IsSignature reports whether a finding concerns a signature (as opposed
// to an attestation): verified as one, or claimed to be one.
func (f Finding) IsSignature() bool {
	if f.Verified {
		return f.PredicateType == CosignSignPredicate
	}
	return f.Claimed == "" || f.Claimed == CosignSignPredicate
}

// RequirementResult is the verdict on one required attestation type.
type RequirementResult struct {
	Type      string        `json:"type"`
	Satisfied bool          `json:"satisfied"`
	By        string        `json:"by,omitempty"`
	Digest    digest.Digest `json:"digest,omitempty"`
	Error     string        `json:"error,omitempty"`
}

// Decision is what a scope makes of the findings for one artifact.
type Decision struct {
	Scope     string
	Threshold int
	// Signers are the distinct trusted signers whose signatures count.
	Signers []string
	// Signatures are the signature findings, with those the scope does
	// not count (a key trusted for attestations only) marked unverified.
	Signatures   []Finding
	Attestations []RequirementResult
	// ModelSignatures are the findings that are OpenSSF model signatures
	// by a signer the scope trusts.
	ModelSignatures []Finding
	Verified        bool
}

// Decide weighs the findings for subject against the scope: a rejecting
// scope refuses; a trusted model signature that disagrees with the
// artifact refuses; then the threshold of distinct trusted signers and
// every required attestation must be met. It is a pure function of its
// inputs. The error, when not nil, wraps errdef.ErrVerification and says
// why; the Decision says what was found either way.
func (s *Scope) Decide(subject digest.Digest, name string, findings []Finding) (*Decision, error) {
	d := &Decision{Scope: s.Scope, Threshold: s.Need(), Signers: []string{}}
	if s.Reject {
		return d, fmt.Errorf("%w: policy scope %q rejects %s", errdef.ErrUntrusted, s.Scope, name)
	}
	for _, f := range findings {
		if f.ModelMismatch {
			return d, fmt.Errorf("%w: %s %s: %s", errdef.ErrModelMismatch, f.Source, f.Digest, f.Error)
		}
		if f.ModelSignature && f.Verified && s.Signs(f.Signer) {
			d.ModelSignatures = append(d.ModelSignatures, f)
		}
	}
	signers := map[string]bool{}
	for _, f := range findings {
		if !f.IsSignature() {
			continue
		}
		if f.Verified && !s.Signs(f.Signer) {
			f.Verified, f.Error = false, fmt.Sprintf("%v: signed by %s, which the scope trusts for attestations only", errdef.ErrUntrusted, f.Signer)
		}
		d.Signatures = append(d.Signatures, f)
		if f.Verified {
			signers[f.Signer] = true
		}
	}
	var failed []string
	for i := range s.Attestations {
		r := s.Attestations[i].decide(findings)
		d.Attestations = append(d.Attestations, r)
		if !r.Satisfied {
			failed = append(failed, r.Error)
		}
	}
	for signer := range signers {
		d.Signers = append(d.Signers, signer)
	}
	sort.Strings(d.Signers)
	if len(signers) >= d.Threshold {
		if len(failed) > 0 {
			return d, fmt.Errorf("%w: %s: required attestations: %s", errdef.ErrUntrusted, subject, strings.Join(failed, "; "))
		}
		d.Verified = true
		return d, nil
	}
	var why []string
	for _, f := range d.Signatures {
		if f.Error != "" {
			why = append(why, fmt.Sprintf("%s %s: %s", f.Source, f.Digest, f.Error))
		}
	}
	msg := fmt.Sprintf("%s is signed by %d of the %d trusted signers required (scope %q)", subject, len(signers), d.Threshold, s.Scope)
	if len(d.Signatures) == 0 {
		msg += "; no signatures found"
	}
	if len(why) > 0 {
		msg += "; " + strings.Join(why, "; ")
	}
	return d, fmt.Errorf("%w: %s", errdef.ErrUntrusted, msg)
}

// decide finds a verified attestation of r's type, by one of its signers,
// whose predicate passes r's checks.
func (r *Requirement) decide(findings []Finding) RequirementResult {
	res := RequirementResult{Type: r.Type}
	why := "none found"
	for _, f := range findings {
		if !f.Verified && f.Claimed == r.Type && f.Error != "" {
			why = fmt.Sprintf("%s: %s", f.Digest, f.Error)
		}
		if !f.Verified || f.PredicateType != r.Type {
			continue
		}
		if !r.Signed(f.Signer) {
			why = fmt.Sprintf("%s is signed by %s, not a signer this requirement trusts", f.Digest, f.Signer)
			continue
		}
		var st struct {
			Predicate json.RawMessage `json:"predicate"`
		}
		if err := json.Unmarshal(f.Statement, &st); err != nil {
			why = fmt.Sprintf("%s: statement: %v", f.Digest, err)
			continue
		}
		if err := r.Evaluate(st.Predicate); err != nil {
			why = fmt.Sprintf("%s: %v", f.Digest, err)
			continue
		}
		res.Satisfied, res.By, res.Digest = true, f.Signer, f.Digest
		return res
	}
	res.Error = fmt.Sprintf("%s: %s", r.Type, why)
	return res
}
