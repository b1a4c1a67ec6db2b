package workflow

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
)

// witnessCovers checks that a verified witness run produced every file of
// the model, each with its path and digest: only then is the record
// evidence about this model. Files inside tar layers cannot be matched
// before they are downloaded, so such a model is refused, saying so.
func witnessCovers(v *attest.Verified, m *Resolved) error {
	if v.PredicateType != attest.WitnessCollection {
		return fmt.Errorf("%w: labelled a witness run, the statement is a %s", errdef.ErrModelMismatch, v.PredicateType)
	}
	run, err := attest.ReadWitnessRun(v.Statement)
	if err != nil {
		return fmt.Errorf("%w: %v", errdef.ErrModelMismatch, err)
	}
	for _, e := range m.Plan.Entries {
		if e.Format != artifact.FormatRaw {
			return fmt.Errorf("%w: %s is a %s layer: its files cannot be matched to the products of witness step %q before they are downloaded", errdef.ErrModelMismatch, e.Path, e.Format, run.Step)
		}
		if e.Layer.Digest.Algorithm() != digest.SHA256 || !run.Produced(e.Path, e.Layer.Digest.Encoded()) {
			return fmt.Errorf("%w: %s (%s) is not a product of witness step %q", errdef.ErrModelMismatch, e.Path, e.Layer.Digest, run.Step)
		}
	}
	return nil
}

// AttachEnvelope stores a DSSE envelope signed elsewhere (a witness run
// record, any in-toto tool's attestation) beside the model repo names, as
// cosign stores attestations, without verifying it: a policy that trusts
// its signer does that when the model is pulled.
func AttachEnvelope(ctx context.Context, repo Repository, envelope []byte) (*SignResult, error) {
	bundle, predicateType, err := attest.WrapEnvelope(envelope)
	if err != nil {
		return nil, fmt.Errorf("attest %s: %w", repo.Reference(), err)
	}
	m, err := Resolve(ctx, repo, artifact.Limits{})
	if err != nil {
		return nil, fmt.Errorf("attest %w", err)
	}
	desc, err := attachBundle(ctx, repo, m, bundle, predicateType)
	if err != nil {
		return nil, fmt.Errorf("attest %s: %w", m.Ref, err)
	}
	return &SignResult{Reference: m.Ref.String(), Digest: m.Desc.Digest, Signature: desc, PredicateType: predicateType}, nil
}
