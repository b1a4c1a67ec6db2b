package attest

import (
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vessel-oci/vessel/errdef"
)

// Proofs of time a keyless signature may be asked for (Keyless.TimeProof).
// A keyless certificate lives minutes; only a proof that the signature
// was made while it was valid lets it verify later.
const (
	// ProofAny: a transparency-log entry or an RFC 3161 timestamp, at
	// least one, and every one the bundle carries must verify.
	ProofAny = "any"
	// ProofLog: a transparency-log entry.
	ProofLog = "transparencyLog"
	// ProofTimestamp: an RFC 3161 timestamp from a listed TSA.
	ProofTimestamp = "timestamp"
	// ProofBoth: both.
	ProofBoth = "both"
)

// Keyless is a signer known by the identity a certificate authority of a
// Sigstore instance (Fulcio) certified for a short-lived key: a CI
// workflow, a service account, a person's email. Both the identity (the
// certificate's subject alternative name) and the OIDC issuer that vouched
// for it are matched, each exactly or by a regular expression, unanchored
// as cosign's --certificate-identity-regexp is (anchor it: "^https://...").
type Keyless struct {
	Issuer, IssuerRegexp     string
	Identity, IdentityRegexp string
	// Root is the Sigstore instance's trusted material (a trusted_root.json:
	// certificate authorities, transparency logs, CT logs, TSAs).
	Root root.TrustedMaterial
	// TimeProof is one of the Proof constants; "" means ProofAny.
	TimeProof string
	// InsecureIgnoreSCT accepts a certificate without a CT log's signed
	// timestamp even where Root lists CT logs (which otherwise requires
	// one, as cosign does).
	InsecureIgnoreSCT bool

	id verify.CertificateIdentity
}

// NewKeyless checks k's rules and returns it ready to verify.
func NewKeyless(k Keyless) (*Keyless, error) {
	switch {
	case k.Root == nil:
		return nil, fmt.Errorf("%w: a keyless signer needs a trusted root", ErrKey)
	case (k.Issuer == "") == (k.IssuerRegexp == ""):
		return nil, fmt.Errorf("%w: a keyless signer needs an OIDC issuer, exact or a regexp (one of them)", ErrKey)
	case (k.Identity == "") == (k.IdentityRegexp == ""):
		return nil, fmt.Errorf("%w: a keyless signer needs an identity, exact or a regexp (one of them)", ErrKey)
	}
	switch k.TimeProof {
	case "", ProofAny, ProofLog, ProofTimestamp, ProofBoth:
	default:
		return nil, fmt.Errorf("%w: time proof %q: want %s, %s, %s or %s", ErrKey, k.TimeProof, ProofAny, ProofLog, ProofTimestamp, ProofBoth)
	}
	id, err := verify.NewShortCertificateIdentity(k.Issuer, k.IssuerRegexp, k.Identity, k.IdentityRegexp)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	k.id = id
	return &k, nil
}

// String describes the rule, for messages.
func (k *Keyless) String() string {
	id, iss := k.Identity, k.Issuer
	if id == "" {
		id = "~" + k.IdentityRegexp
	}
	if iss == "" {
		iss = "~" + k.IssuerRegexp
	}
	return fmt.Sprintf("identity %s from issuer %s", id, iss)
}

// options are what the trusted root and the rule ask of a bundle: a proof
// of time (a log entry counts only once it is verified, so it is required
// whenever the bundle carries one), and an SCT where the root lists CT logs.
func (k *Keyless) options(b *bundle.Bundle) []verify.VerifierOption {
	hasLog := len(b.GetVerificationMaterial().GetTlogEntries()) > 0
	var opts []verify.VerifierOption
	switch k.TimeProof {
	case ProofLog:
		opts = append(opts, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))
	case ProofTimestamp:
		opts = append(opts, verify.WithSignedTimestamps(1))
	case ProofBoth:
		opts = append(opts, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1), verify.WithSignedTimestamps(1))
	default:
		if hasLog {
			opts = append(opts, verify.WithTransparencyLog(1))
		}
		opts = append(opts, verify.WithObserverTimestamps(1))
	}
	if len(k.Root.CTLogs()) > 0 && !k.InsecureIgnoreSCT {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	return opts
}

// VerifyKeyless checks a bundle signed keyless against keyless signer s,
// whatever its statement is about (VerifyBundle checks that).
func VerifyKeyless(b *bundle.Bundle, s TrustedSigner) (*Verified, error) {
	return verifyKeyless(b, s, verify.WithoutArtifactUnsafe())
}

// verifyKeyless checks b against s; artifact is what a message signature
// (a classic one) must be over, or WithoutArtifactUnsafe for a DSSE
// envelope, whose statement the caller checks.
func verifyKeyless(b *bundle.Bundle, s TrustedSigner, artifact verify.ArtifactPolicyOption) (*Verified, error) {
	k := s.Keyless
	vm := b.GetVerificationMaterial()
	if len(vm.GetTlogEntries()) == 0 && len(vm.GetTimestampVerificationData().GetRfc3161Timestamps()) == 0 {
		return nil, fmt.Errorf("%w: %s (%s): no proof of when it was signed: a keyless signature needs a transparency-log entry or an RFC 3161 timestamp, since its certificate lives minutes", errdef.ErrBadSignature, s.Name, k)
	}
	v, err := verify.NewVerifier(k.Root, k.options(b)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errdef.ErrBadSignature, s.Name, err)
	}
	res, err := v.Verify(b, verify.NewPolicy(artifact, verify.WithCertificateIdentity(k.id)))
	if err != nil {
		var idErr *verify.ErrNoMatchingCertificateIdentity
		if errors.As(err, &idErr) {
			return nil, fmt.Errorf("%w: %s wants %s: %v", errdef.ErrUntrusted, s.Name, k, err)
		}
		return nil, fmt.Errorf("%w: %s (%s): %v", errdef.ErrBadSignature, s.Name, k, err)
	}
	out := &Verified{Signer: s.Name}
	if c := res.Signature; c != nil && c.Certificate != nil {
		out.Identity, out.Issuer = c.Certificate.SubjectAlternativeName, c.Certificate.Issuer
	}
	return withStatement(out, res)
}

// withStatement adds the verified in-toto statement of res to v; a
// message signature (classic) has none, and gets its predicate type from
// the caller.
func withStatement(v *Verified, res *verify.VerificationResult) (*Verified, error) {
	if b := res.Statement; b != nil {
		v.statement, v.PredicateType = b, b.GetPredicateType()
		v.Statement, _ = protojson.Marshal(b)
	}
	return v, nil
}
