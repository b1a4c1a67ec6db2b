package workflow

import (
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/oms"
)

// verifiers checks each kind of evidence a model carries against the
// identities one policy scope trusts. The fetching code (findStatements
// and what it calls) asks only these methods, so a new kind of signer
// (keyless identities, certificate chains, KMS keys) changes this type
// and attest, never the fetching.
type verifiers struct {
	keys []attest.TrustedSigner
}

func verifiersFor(keys []attest.TrustedSigner) verifiers { return verifiers{keys: keys} }

// bundle checks a Sigstore bundle whose statement must cover subject.
func (v verifiers) bundle(data []byte, subject digest.Digest) (*attest.Verified, error) {
	return attest.VerifyBundle(data, subject, v.keys)
}

// statement checks a Sigstore bundle whose statement the caller checks
// (a witness run's, about files).
func (v verifiers) statement(data []byte) (*attest.Verified, error) {
	return attest.VerifyBundleStatement(data, v.keys)
}

// classic checks a cosign classic (.sig) signature layer and its payload.
func (v verifiers) classic(layer ocispec.Descriptor, payload []byte, subject digest.Digest) (*attest.Verified, error) {
	return attest.VerifyClassic(layer, payload, subject, v.keys)
}

// envelope checks a cosign classic attestation (.att): a DSSE envelope.
func (v verifiers) envelope(env []byte, subject digest.Digest) (*attest.Verified, error) {
	return attest.VerifyDSSE(env, subject, v.keys)
}

// modelSignature is the verifier of OpenSSF model signatures.
func (v verifiers) modelSignature() oms.Verifier { return oms.SignerVerifier(v.keys...) }
