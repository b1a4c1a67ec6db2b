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
}

// Verification is the chain a verify proved, or how far it got.
type Verification struct {
	Reference  string           `json:"reference"`
	Digest     digest.Digest    `json:"digest"`
	Scope      string           `json:"scope,omitempty"`
	Threshold  int              `json:"threshold"`
	Signers    []string         `json:"signers"`
	Signatures []SignatureCheck `json:"signatures"`
	Verified   bool             `json:"verified"`
}

// Verify resolves repo's reference and checks its signatures against the
// policy. The returned Verification describes what was found even when the
// error (wrapping attest.ErrUntrusted) says the policy is not met.
func Verify(ctx context.Context, repo *registry.Repository, policy *attest.Policy) (*Verification, error) {
	m, err := Resolve(ctx, repo, artifact.Limits{})
	if err != nil {
		return nil, fmt.Errorf("verify %w", err)
	}
	return VerifyResolved(ctx, repo, m, policy)
}

// PolicyCheck is the pull hook that enforces policy.
func PolicyCheck(policy *attest.Policy, report func(*Verification)) VerifyFunc {
	return func(ctx context.Context, repo *registry.Repository, m *Resolved) error {
		v, err := VerifyResolved(ctx, repo, m, policy)
		if report != nil && v != nil {
			report(v)
		}
		return err
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
		return v, fmt.Errorf("%w: policy scope %q rejects %s", attest.ErrUntrusted, scope.Scope, scopeName(m.Ref))
	}
	v.Threshold = scope.Need()
	checks, err := findSignatures(ctx, repo, m.Desc, scope.Keys())
	if err != nil {
		return v, err
	}
	v.Signatures = checks
	signers := map[string]bool{}
	for _, c := range checks {
		if c.Verified && c.PredicateType == attest.CosignSignPredicate {
			signers[c.Signer] = true
		}
	}
	for s := range signers {
		v.Signers = append(v.Signers, s)
	}
	sort.Strings(v.Signers)
	if len(signers) >= v.Threshold {
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
	return v, fmt.Errorf("%w: %s", attest.ErrUntrusted, msg)
}

// findSignatures fetches and checks every signature of subject: bundle
// referrers (from the API or the tag schema) and cosign classic .sig
// tags. Every manifest and blob is capped and digest-checked; the
// referrers index is only a list of places to look.
func findSignatures(ctx context.Context, repo *registry.Repository, subject ocispec.Descriptor, keys []attest.TrustedKey) ([]SignatureCheck, error) {
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
			return nil, fmt.Errorf("%w: more than %d signature candidates for %s", registry.ErrTooLarge, MaxSignatureCandidates, subject.Digest)
		}
		c, err := checkReferrer(ctx, repo, r, subject, keys)
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
	return append(checks, classic...), nil
}

// checkReferrer checks one referrer; nil means it is not a signature.
// Only I/O errors are returned as errors: a bad signature is a finding.
func checkReferrer(ctx context.Context, repo *registry.Repository, r ocispec.Descriptor, subject ocispec.Descriptor, keys []attest.TrustedKey) (*SignatureCheck, error) {
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
	if pt := m.Annotations[attest.AnnotationBundlePredicateType]; pt != "" && pt != attest.CosignSignPredicate {
		return nil, nil // an attestation, not a signature
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		c.Error = fmt.Sprintf("%v: referrer's subject is not %s", attest.ErrSubjectMismatch, subject.Digest)
		return c, nil
	}
	if layer.Size > attest.MaxBundleSize {
		c.Error = fmt.Sprintf("bundle is %d bytes (cap %d)", layer.Size, attest.MaxBundleSize)
		return c, nil
	}
	bundle, err := repo.FetchManifest(ctx, layer)
	if err != nil {
		if isIntegrity(err) {
			c.Error = err.Error()
			return c, nil
		}
		return nil, err
	}
	got, err := attest.VerifyBundle(bundle, subject.Digest, keys)
	if err != nil {
		c.Error = err.Error()
		return c, nil
	}
	c.Verified, c.Signer, c.KeyID, c.PredicateType = true, got.Signer, got.KeyID, got.PredicateType
	return c, nil
}

// checkClassic checks cosign's classic signatures of subject, if any.
func checkClassic(ctx context.Context, repo *registry.Repository, subject ocispec.Descriptor, keys []attest.TrustedKey) ([]SignatureCheck, error) {
	desc, err := repo.Target.Resolve(ctx, attest.ClassicTag(subject.Digest))
	if err != nil {
		return nil, nil // no classic signatures (registries differ in how they say so)
	}
	data, err := repo.FetchManifest(ctx, desc)
	if err != nil {
		if isIntegrity(err) {
			return []SignatureCheck{{Source: "classic", Digest: desc.Digest, Error: err.Error()}}, nil
		}
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return []SignatureCheck{{Source: "classic", Digest: desc.Digest, Error: "manifest is not JSON"}}, nil
	}
	var checks []SignatureCheck
	for _, l := range attest.ClassicLayers(m) {
		c := SignatureCheck{Source: "classic", Digest: l.Digest}
		if l.Size > attest.MaxClassicPayload {
			c.Error = fmt.Sprintf("payload is %d bytes (cap %d)", l.Size, attest.MaxClassicPayload)
			checks = append(checks, c)
			continue
		}
		payload, err := repo.FetchManifest(ctx, l)
		if err != nil {
			if !isIntegrity(err) {
				return nil, err
			}
			c.Error = err.Error()
			checks = append(checks, c)
			continue
		}
		got, err := attest.VerifyClassic(l, payload, subject.Digest, keys)
		if err != nil {
			c.Error = err.Error()
		} else {
			c.Verified, c.Signer, c.KeyID, c.PredicateType = true, got.Signer, got.KeyID, got.PredicateType
		}
		checks = append(checks, c)
		if len(checks) >= MaxSignatureCandidates {
			break
		}
	}
	return checks, nil
}

func isIntegrity(err error) bool {
	return errors.Is(err, registry.ErrDigestMismatch) || errors.Is(err, registry.ErrTooLarge)
}
