package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/oms"
	"github.com/vessel-oci/vessel/registry"
)

// MaxSignatureCandidates caps the referrer manifests fetched when looking
// for signatures of one model.
const MaxSignatureCandidates = 100

// SignatureCheck is one signature found for a model and what became of it.
type SignatureCheck struct {
	// Source is "referrer" (a bundle) or "classic" (a cosign .sig tag).
	Source string `json:"source"`
	// Digest is the referrer manifest's, or the classic payload layer's.
	Digest        digest.Digest `json:"digest"`
	Signer        string        `json:"signer,omitempty"`
	KeyID         string        `json:"keyId,omitempty"`
	PredicateType string        `json:"predicateType,omitempty"`
	Created       string        `json:"created,omitempty"`
	Verified      bool          `json:"verified"`
	Error         string        `json:"error,omitempty"`
	// claimed is the predicate type the referrer's annotation or tag says,
	// unverified: only used to decide which failures to report.
	claimed string
	// statement is the verified in-toto statement (JSON).
	statement json.RawMessage
	// oms is set for a trusted OpenSSF model signature matching the model;
	// omsMismatch when a trusted one disagrees with the manifest.
	oms         *OMSSignature
	omsMismatch bool
}

// isSignature reports whether a check concerns a signature (as opposed to
// an attestation): verified as one, or claimed to be one.
func (c SignatureCheck) isSignature() bool {
	if c.Verified {
		return c.PredicateType == attest.CosignSignPredicate
	}
	return c.claimed == "" || c.claimed == attest.CosignSignPredicate
}

// Verification is the chain a verify proved, or how far it got.
type Verification struct {
	Reference  string           `json:"reference"`
	Digest     digest.Digest    `json:"digest"`
	Scope      string           `json:"scope,omitempty"`
	Threshold  int              `json:"threshold"`
	Signers    []string         `json:"signers"`
	Signatures []SignatureCheck `json:"signatures"`
	// Attestations reports each attestation the policy requires.
	Attestations []RequirementResult `json:"attestations,omitempty"`
	// OMS is a trusted OpenSSF model signature whose files are the model's.
	OMS *OMSSignature `json:"oms,omitempty"`
	// omsAll are all trusted OMS signatures: every one must agree with
	// the files unpacked from tar layers, not just the one written out.
	omsAll   []*OMSSignature
	Verified bool `json:"verified"`
}

// RequirementResult is the verdict on one required attestation type.
type RequirementResult struct {
	Type      string        `json:"type"`
	Satisfied bool          `json:"satisfied"`
	By        string        `json:"by,omitempty"`
	Digest    digest.Digest `json:"digest,omitempty"`
	Error     string        `json:"error,omitempty"`
}

// Verify resolves repo's reference and checks its signatures against the
// policy. The returned Verification describes what was found even when the
// error (wrapping errdef.ErrUntrusted) says the policy is not met.
func Verify(ctx context.Context, repo *registry.Repository, policy *attest.Policy) (*Verification, error) {
	m, err := Resolve(ctx, repo, artifact.Limits{})
	if err != nil {
		return nil, fmt.Errorf("verify %w", err)
	}
	return VerifyResolved(ctx, repo, m, policy)
}

// PolicyCheck is the pull hook that enforces policy.
func PolicyCheck(policy *attest.Policy) VerifyFunc {
	return func(ctx context.Context, repo *registry.Repository, m *Resolved) (*Verification, error) {
		return VerifyResolved(ctx, repo, m, policy)
	}
}

// scopeName is what policy scopes match: "host/repo" or "oci:PATH".
func scopeName(r registry.Reference) string {
	if r.IsLayout() {
		return registry.LayoutPrefix + r.Layout
	}
	return r.Registry + "/" + r.Repository
}

// VerifyResolved checks the signatures of an already resolved model.
func VerifyResolved(ctx context.Context, repo *registry.Repository, m *Resolved, policy *attest.Policy) (*Verification, error) {
	v := &Verification{Reference: m.Ref.String(), Digest: m.Desc.Digest, Signers: []string{}, Signatures: []SignatureCheck{}}
	scope, err := policy.ScopeFor(scopeName(m.Ref))
	if err != nil {
		return v, err
	}
	v.Scope = scope.Scope
	if scope.Reject {
		return v, fmt.Errorf("%w: policy scope %q rejects %s", errdef.ErrUntrusted, scope.Scope, scopeName(m.Ref))
	}
	v.Threshold = scope.Need()
	all, err := findStatements(ctx, repo, m, scope.AllKeys())
	if err != nil {
		return v, err
	}
	for _, c := range all {
		if c.omsMismatch {
			return v, fmt.Errorf("%w: %s %s: %s", errdef.ErrModelMismatch, c.Source, c.Digest, c.Error)
		}
		if c.oms != nil && scope.Signs(c.Signer) {
			if v.OMS == nil {
				v.OMS = c.oms
			}
			v.omsAll = append(v.omsAll, c.oms)
		}
	}
	var checks []SignatureCheck
	signers := map[string]bool{}
	for _, c := range all {
		if !c.isSignature() {
			continue
		}
		if c.Verified && !scope.Signs(c.Signer) {
			// A key trusted for some attestation only: its signature
			// does not count towards the threshold.
			c.Verified, c.Error = false, fmt.Sprintf("%v: signed by %s, which the scope trusts for attestations only", errdef.ErrUntrusted, c.Signer)
		}
		checks = append(checks, c)
		if c.Verified {
			signers[c.Signer] = true
		}
	}
	var failed []string
	for i := range scope.Attestations {
		r := requirement(&scope.Attestations[i], all)
		v.Attestations = append(v.Attestations, r)
		if !r.Satisfied {
			failed = append(failed, r.Error)
		}
	}
	if checks != nil {
		v.Signatures = checks
	}
	for s := range signers {
		v.Signers = append(v.Signers, s)
	}
	sort.Strings(v.Signers)
	if len(signers) >= v.Threshold {
		if len(failed) > 0 {
			return v, fmt.Errorf("%w: %s: required attestations: %s", errdef.ErrUntrusted, m.Desc.Digest, strings.Join(failed, "; "))
		}
		v.Verified = true
		return v, nil
	}
	var why []string
	for _, c := range checks {
		if c.Error != "" {
			why = append(why, fmt.Sprintf("%s %s: %s", c.Source, c.Digest, c.Error))
		}
	}
	msg := fmt.Sprintf("%s is signed by %d of the %d trusted signers required (scope %q)",
		m.Desc.Digest, len(signers), v.Threshold, scope.Scope)
	if len(checks) == 0 {
		msg += "; no signatures found"
	}
	if len(why) > 0 {
		msg += "; " + strings.Join(why, "; ")
	}
	return v, fmt.Errorf("%w: %s", errdef.ErrUntrusted, msg)
}

// requirement finds a verified attestation of r's type, by one of its
// signers, whose predicate passes r's checks.
func requirement(r *attest.Requirement, checks []SignatureCheck) RequirementResult {
	res := RequirementResult{Type: r.Type}
	why := "none found"
	for _, c := range checks {
		if !c.Verified || c.PredicateType != r.Type {
			continue
		}
		if !r.Signed(c.Signer) {
			why = fmt.Sprintf("%s is signed by %s, not a signer this requirement trusts", c.Digest, c.Signer)
			continue
		}
		var st struct {
			Predicate json.RawMessage `json:"predicate"`
		}
		if err := json.Unmarshal(c.statement, &st); err != nil {
			why = fmt.Sprintf("%s: statement: %v", c.Digest, err)
			continue
		}
		if err := r.Evaluate(st.Predicate); err != nil {
			why = fmt.Sprintf("%s: %v", c.Digest, err)
			continue
		}
		res.Satisfied, res.By, res.Digest = true, c.Signer, c.Digest
		return res
	}
	res.Error = fmt.Sprintf("%s: %s", r.Type, why)
	return res
}

// findStatements fetches and checks every signed statement about subject:
// bundle referrers (from the API or the tag schema) of any predicate type,
// and cosign's classic .sig and .att tags. Every manifest and blob is
// capped and digest-checked; the referrers index is only a list of places
// to look.
func findStatements(ctx context.Context, repo *registry.Repository, m *Resolved, keys []attest.TrustedKey) ([]SignatureCheck, error) {
	subject := m.Desc
	refs, err := repo.Referrers(ctx, subject, "")
	if err != nil {
		return nil, err
	}
	var checks []SignatureCheck
	n := 0
	for _, r := range refs {
		// cosign on a registry without the referrers API indexes its
		// bundles as the empty type; anything else cannot be a signature.
		switch r.ArtifactType {
		case attest.BundleMediaType, ocispec.MediaTypeEmptyJSON, "":
		default:
			continue
		}
		if n++; n > MaxSignatureCandidates {
			return nil, fmt.Errorf("%w: more than %d signature candidates for %s", errdef.ErrLimit, MaxSignatureCandidates, subject.Digest)
		}
		c, err := checkReferrer(ctx, repo, r, m, keys)
		if err != nil {
			return nil, err
		}
		if c != nil {
			checks = append(checks, *c)
		}
	}
	classic, err := checkClassic(ctx, repo, subject, keys)
	if err != nil {
		return nil, err
	}
	atts, err := checkClassicAttestations(ctx, repo, subject, keys)
	if err != nil {
		return nil, err
	}
	return append(append(checks, classic...), atts...), nil
}

// checkReferrer checks one referrer; nil means it is not a signature.
// Only I/O errors are returned as errors: a bad signature is a finding.
func checkReferrer(ctx context.Context, repo *registry.Repository, r ocispec.Descriptor, model *Resolved, keys []attest.TrustedKey) (*SignatureCheck, error) {
	subject := model.Desc
	c := &SignatureCheck{Source: "referrer", Digest: r.Digest}
	data, err := repo.FetchManifest(ctx, r)
	if err != nil {
		if isIntegrity(err) {
			c.Error = err.Error()
			return c, nil
		}
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		c.Error = "manifest is not JSON"
		return c, nil
	}
	layer, ok := attest.BundleLayer(m)
	if !ok {
		return nil, nil
	}
	c.Created = m.Annotations[ocispec.AnnotationCreated]
	// cosign labels its attestations with the signature type too: only the
	// verified statement's type counts.
	c.claimed = m.Annotations[attest.AnnotationBundlePredicateType]
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		c.Error = fmt.Sprintf("%v: referrer's subject is not %s", errdef.ErrSubjectMismatch, subject.Digest)
		return c, nil
	}
	limit := int64(attest.MaxBundleSize)
	if c.claimed == oms.PredicateType {
		limit = omsBundleLimit(model)
	}
	if layer.Size > limit {
		c.Error = fmt.Sprintf("%v: bundle is %d bytes (cap %d)", errdef.ErrLimit, layer.Size, limit)
		return c, nil
	}
	bundle, err := repo.FetchCapped(ctx, layer, limit)
	if err != nil {
		if isIntegrity(err) {
			c.Error = err.Error()
			return c, nil
		}
		return nil, err
	}
	if c.claimed == oms.PredicateType {
		// An OpenSSF model signature's subject is the model's root digest,
		// not the manifest: it binds by its file list instead.
		sig, err := checkOMS(bundle, model, keys)
		if err != nil {
			c.Error, c.omsMismatch = err.Error(), errors.Is(err, errdef.ErrModelMismatch)
			return c, nil
		}
		sig.Digest = r.Digest
		c.Verified, c.Signer, c.PredicateType, c.oms = true, sig.Signer, oms.PredicateType, sig
		return c, nil
	}
	got, err := attest.VerifyBundle(bundle, subject.Digest, keys)
	if err != nil {
		c.Error = err.Error()
		return c, nil
	}
	c.Verified, c.Signer, c.KeyID, c.PredicateType, c.statement = true, got.Signer, got.KeyID, got.PredicateType, got.Statement
	return c, nil
}

// classicLayers fetches the manifest cosign tagged for subject (".sig" or
// ".att") and returns its layers; none when there is no such tag.
func classicLayers(ctx context.Context, repo *registry.Repository, tag string) ([]ocispec.Descriptor, *SignatureCheck, error) {
	desc, err := repo.ResolveTag(ctx, tag)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cosign's classic signatures: %w", err)
	}
	data, err := repo.FetchManifest(ctx, desc)
	if err != nil {
		if isIntegrity(err) {
			return nil, &SignatureCheck{Source: "classic", Digest: desc.Digest, Error: err.Error()}, nil
		}
		return nil, nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, &SignatureCheck{Source: "classic", Digest: desc.Digest, Error: "manifest is not JSON"}, nil
	}
	if len(m.Layers) > MaxSignatureCandidates {
		return nil, nil, fmt.Errorf("%w: %s has %d layers", errdef.ErrLimit, tag, len(m.Layers))
	}
	return m.Layers, nil, nil
}

// fetchSmall fetches a signature payload within max bytes; a failed check
// of the bytes is a finding, returned in the check, not an error.
func fetchSmall(ctx context.Context, repo *registry.Repository, l ocispec.Descriptor, max int64, c *SignatureCheck) ([]byte, error) {
	if l.Size > max {
		c.Error = fmt.Sprintf("payload is %d bytes (cap %d)", l.Size, max)
		return nil, nil
	}
	data, err := repo.FetchCapped(ctx, l, max)
	if err != nil && isIntegrity(err) {
		c.Error = err.Error()
		return nil, nil
	}
	return data, err
}

// checkClassic checks cosign's classic signatures of subject, if any.
func checkClassic(ctx context.Context, repo *registry.Repository, subject ocispec.Descriptor, keys []attest.TrustedKey) ([]SignatureCheck, error) {
	layers, bad, err := classicLayers(ctx, repo, attest.ClassicTag(subject.Digest))
	if err != nil || bad != nil {
		return checksOf(bad), err
	}
	var checks []SignatureCheck
	for _, l := range layers {
		if l.MediaType != attest.SimpleSigningMediaType {
			continue
		}
		c := SignatureCheck{Source: "classic", Digest: l.Digest, claimed: attest.CosignSignPredicate}
		payload, err := fetchSmall(ctx, repo, l, attest.MaxClassicPayload, &c)
		if err != nil {
			return nil, err
		}
		if payload != nil {
			if got, err := attest.VerifyClassic(l, payload, subject.Digest, keys); err != nil {
				c.Error = err.Error()
			} else {
				c.Verified, c.Signer, c.KeyID, c.PredicateType = true, got.Signer, got.KeyID, got.PredicateType
			}
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// checkClassicAttestations checks cosign's classic attestations (DSSE
// envelopes under the ".att" tag), if any.
func checkClassicAttestations(ctx context.Context, repo *registry.Repository, subject ocispec.Descriptor, keys []attest.TrustedKey) ([]SignatureCheck, error) {
	layers, bad, err := classicLayers(ctx, repo, attest.ClassicAttestationTag(subject.Digest))
	if err != nil || bad != nil {
		if bad != nil {
			bad.claimed = "attestation"
		}
		return checksOf(bad), err
	}
	var checks []SignatureCheck
	for _, l := range layers {
		if l.MediaType != attest.DSSEMediaType {
			continue
		}
		c := SignatureCheck{Source: "classic-attestation", Digest: l.Digest, claimed: l.Annotations["predicateType"]}
		env, err := fetchSmall(ctx, repo, l, attest.MaxBundleSize, &c)
		if err != nil {
			return nil, err
		}
		if env != nil {
			if got, err := attest.VerifyDSSE(env, subject.Digest, keys); err != nil {
				c.Error = err.Error()
			} else {
				c.Verified, c.Signer, c.KeyID, c.PredicateType, c.statement = true, got.Signer, got.KeyID, got.PredicateType, got.Statement
			}
		}
		if c.claimed == "" {
			c.claimed = "attestation"
		}
		checks = append(checks, c)
	}
	return checks, nil
}

func checksOf(c *SignatureCheck) []SignatureCheck {
	if c == nil {
		return nil
	}
	return []SignatureCheck{*c}
}

func isIntegrity(err error) bool {
	return errors.Is(err, errdef.ErrDigestMismatch) || errors.Is(err, errdef.ErrLimit)
}
