package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/oms"
	"github.com/vessel-oci/vessel/registry"
)

// MaxSignatureCandidates caps the referrer manifests fetched when looking
// for signatures of one model.
const MaxSignatureCandidates = 100

// SignatureCheck is one signature or attestation found for a model and
// what checking it showed.
type SignatureCheck = attest.Finding

// RequirementResult is the verdict on one required attestation type.
type RequirementResult = attest.RequirementResult

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

// Verify resolves repo's reference (a model, or any manifest or index)
// and checks its signatures against the policy. The returned Verification
// describes what was found even when the error (wrapping
// errdef.ErrUntrusted) says the policy is not met.
func Verify(ctx context.Context, repo Source, policy *attest.Policy) (*Verification, error) {
	m, err := resolveSubject(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("verify %w", err)
	}
	return VerifyResolved(ctx, repo, m, policy)
}

// checkTrust is the rule every entry point that reads a model keeps:
// trust is a policy, or the caller says out loud that there is none.
func checkTrust(policy *attest.Policy, insecure bool) error {
	switch {
	case policy != nil && insecure:
		return fmt.Errorf("%w: a policy and InsecureSkipVerify contradict each other", ErrNoTrust)
	case policy == nil && !insecure:
		return ErrNoTrust
	}
	return nil
}

// scopeName is what policy scopes match: "host/repo" or "oci:PATH".
func scopeName(r registry.Reference) string {
	if r.IsLayout() {
		return registry.LayoutPrefix + r.Layout
	}
	return r.Registry + "/" + r.Repository
}

// dropBundles lets go of the OMS bundles' bytes once nothing is to write
// them (see signatureFile).
func (v *Verification) dropBundles() {
	if v == nil {
		return
	}
	for _, s := range v.omsAll {
		s.bundle = nil
	}
	if v.OMS != nil {
		v.OMS.bundle = nil
	}
}

// VerifyResolved checks the signatures of an already resolved model: it
// fetches and checks every signature and attestation (findStatements),
// then the policy's scope decides (attest.Scope.Decide).
func VerifyResolved(ctx context.Context, repo Source, m *Resolved, policy *attest.Policy) (*Verification, error) {
	v := &Verification{Reference: m.Ref.String(), Digest: m.Desc.Digest, Signers: []string{}, Signatures: []SignatureCheck{}}
	if policy == nil {
		return v, ErrNoTrust
	}
	scope, err := policy.ScopeFor(scopeName(m.Ref))
	if err != nil {
		return v, err
	}
	v.Scope, v.Threshold = scope.Scope, scope.Need()
	var findings []attest.Finding
	sigs := map[digest.Digest]*OMSSignature{}
	if !scope.Reject {
		if findings, err = findStatements(ctx, repo, m, verifiersFor(scope.AllKeys()), sigs); err != nil {
			return v, err
		}
	}
	d, err := scope.Decide(m.Desc.Digest, scopeName(m.Ref), findings)
	v.Signers, v.Attestations, v.Verified = d.Signers, d.Attestations, d.Verified
	if d.Signatures != nil {
		v.Signatures = d.Signatures
	}
	for _, f := range d.ModelSignatures {
		if v.OMS == nil {
			v.OMS = sigs[f.Digest]
		}
		v.omsAll = append(v.omsAll, sigs[f.Digest])
	}
	return v, err
}

// findStatements fetches and checks every signed statement about subject:
// bundle referrers (from the API or the tag schema) of any predicate type,
// and cosign's classic .sig and .att tags. Every manifest and blob is
// capped and digest-checked; the referrers index is only a list of places
// to look.
func findStatements(ctx context.Context, repo Source, m *Resolved, trust verifiers, sigs map[digest.Digest]*OMSSignature) ([]SignatureCheck, error) {
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
		c, err := checkReferrer(ctx, repo, r, m, trust, sigs)
		if err != nil {
			return nil, err
		}
		if c != nil {
			checks = append(checks, *c)
		}
	}
	classic, err := checkClassic(ctx, repo, subject, trust)
	if err != nil {
		return nil, err
	}
	atts, err := checkClassicAttestations(ctx, repo, subject, trust)
	if err != nil {
		return nil, err
	}
	return append(append(checks, classic...), atts...), nil
}

// checkReferrer checks one referrer; nil means it is not a signature.
// Only I/O errors are returned as errors: a bad signature is a finding,
// and so is a referrer the registry lists but no longer has (a GC, a
// partial copy, a hostile registry): refused and skipped, it cannot block
// the signatures that do verify.
// A verified OMS signature's details go to sigs, by referrer digest.
func checkReferrer(ctx context.Context, repo Source, r ocispec.Descriptor, model *Resolved, trust verifiers, sigs map[digest.Digest]*OMSSignature) (*SignatureCheck, error) {
	subject := model.Desc
	c := &SignatureCheck{Source: "referrer", Digest: r.Digest}
	data, err := fetchManifest(ctx, repo, r)
	if err != nil {
		if isIntegrity(err) || errors.Is(err, errdef.ErrNotFound) {
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
	c.Claimed = m.Annotations[attest.AnnotationBundlePredicateType]
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		c.Error = fmt.Sprintf("%v: referrer's subject is not %s", errdef.ErrSubjectMismatch, subject.Digest)
		return c, nil
	}
	limit := int64(attest.MaxBundleSize)
	if c.Claimed == oms.PredicateType {
		if model.Plan == nil {
			c.Error = fmt.Sprintf("%v: an OpenSSF model signature of %s, which is not a model", errdef.ErrBadBundle, subject.Digest)
			return c, nil
		}
		limit = omsBundleLimit(model)
	}
	if layer.Size > limit {
		c.Error = fmt.Sprintf("%v: bundle is %d bytes (cap %d)", errdef.ErrLimit, layer.Size, limit)
		return c, nil
	}
	bundle, err := repo.FetchCapped(ctx, layer, limit)
	if err != nil {
		if isIntegrity(err) || errors.Is(err, errdef.ErrNotFound) {
			c.Error = err.Error()
			return c, nil
		}
		return nil, err
	}
	if c.Claimed == oms.PredicateType {
		// An OpenSSF model signature's subject is the model's root digest,
		// not the manifest: it binds by its file list instead.
		sig, err := checkOMS(bundle, model, trust)
		if err != nil {
			c.Error, c.ModelMismatch = err.Error(), errors.Is(err, errdef.ErrModelMismatch)
			return c, nil
		}
		sig.Digest = r.Digest
		c.Verified, c.Signer, c.PredicateType, c.ModelSignature = true, sig.Signer, oms.PredicateType, true
		sigs[r.Digest] = sig
		return c, nil
	}
	var got *attest.Verified
	if c.Claimed == attest.WitnessCollection {
		// A witness run record is about the files the step produced, not
		// the manifest: it binds by covering every file.
		got, err = trust.statement(bundle)
		if err == nil {
			err = witnessCovers(got, model)
		}
	} else {
		got, err = trust.bundle(bundle, subject.Digest)
	}
	if err != nil {
		c.Error = err.Error()
		return c, nil
	}
	c.Verified, c.Signer, c.KeyID, c.PredicateType, c.Statement = true, got.Signer, got.KeyID, got.PredicateType, got.Statement
	c.Identity, c.Issuer, c.CA = got.Identity, got.Issuer, got.CA
	return c, nil
}

// classicLayers fetches the manifest cosign tagged for subject (".sig" or
// ".att") and returns its layers; none when there is no such tag.
func classicLayers(ctx context.Context, repo Source, tag string) ([]ocispec.Descriptor, *SignatureCheck, error) {
	desc, err := repo.ResolveTag(ctx, tag)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cosign's classic signatures: %w", err)
	}
	data, err := fetchManifest(ctx, repo, desc)
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
func fetchSmall(ctx context.Context, repo Source, l ocispec.Descriptor, max int64, c *SignatureCheck) ([]byte, error) {
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
func checkClassic(ctx context.Context, repo Source, subject ocispec.Descriptor, trust verifiers) ([]SignatureCheck, error) {
	layers, bad, err := classicLayers(ctx, repo, attest.ClassicTag(subject.Digest))
	if err != nil || bad != nil {
		return checksOf(bad), err
	}
	var checks []SignatureCheck
	for _, l := range layers {
		if l.MediaType != attest.SimpleSigningMediaType {
			continue
		}
		c := SignatureCheck{Source: "classic", Digest: l.Digest, Claimed: attest.CosignSignPredicate}
		payload, err := fetchSmall(ctx, repo, l, attest.MaxClassicPayload, &c)
		if err != nil {
			return nil, err
		}
		if payload != nil {
			if got, err := trust.classic(l, payload, subject.Digest); err != nil {
				c.Error = err.Error()
			} else {
				c.Verified, c.Signer, c.KeyID, c.PredicateType = true, got.Signer, got.KeyID, got.PredicateType
				c.Identity, c.Issuer, c.CA = got.Identity, got.Issuer, got.CA
			}
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// checkClassicAttestations checks cosign's classic attestations (DSSE
// envelopes under the ".att" tag), if any.
func checkClassicAttestations(ctx context.Context, repo Source, subject ocispec.Descriptor, trust verifiers) ([]SignatureCheck, error) {
	layers, bad, err := classicLayers(ctx, repo, attest.ClassicAttestationTag(subject.Digest))
	if err != nil || bad != nil {
		if bad != nil {
			bad.Claimed = "attestation"
		}
		return checksOf(bad), err
	}
	var checks []SignatureCheck
	for _, l := range layers {
		if l.MediaType != attest.DSSEMediaType {
			continue
		}
		c := SignatureCheck{Source: "classic-attestation", Digest: l.Digest, Claimed: l.Annotations["predicateType"]}
		env, err := fetchSmall(ctx, repo, l, attest.MaxBundleSize, &c)
		if err != nil {
			return nil, err
		}
		if env != nil {
			if got, err := trust.envelope(env, subject.Digest); err != nil {
				c.Error = err.Error()
			} else {
				c.Verified, c.Signer, c.KeyID, c.PredicateType, c.Statement = true, got.Signer, got.KeyID, got.PredicateType, got.Statement
			}
		}
		if c.Claimed == "" {
			c.Claimed = "attestation"
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

// isIntegrity reports whether a fetch failed because of what was sent
// (digest, size, a cap): a finding about that one object, not an outage.
func isIntegrity(err error) bool {
	return errors.Is(err, errdef.ErrVerification)
}
