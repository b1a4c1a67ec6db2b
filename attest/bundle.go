package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/opencontainers/go-digest"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/vessel-oci/vessel/errdef"
)

// Well-known types.
const (
	// BundleMediaType is a Sigstore bundle v0.3, as cosign stores it.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// CosignSignPredicate is the predicate type of a cosign (and vessel)
	// signature: the statement says only "this digest is signed".
	CosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
)

// MaxBundleSize caps a signature or attestation bundle: VerifyBundle
// refuses a larger one before parsing it, and SignStatement refuses to
// make one, so nothing vessel writes is unreadable by vessel. OMS bundles,
// which grow with the model's file count, have their own limit
// (oms.BundleLimit).
const MaxBundleSize = 4 << 20

// Statement builds an in-toto v1 statement about one artifact digest.
// predicate may be nil (as for a cosign signature) or any JSON object.
func Statement(subject digest.Digest, name, predicateType string, predicate json.RawMessage) ([]byte, error) {
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: name, Digest: map[string]string{subject.Algorithm().String(): subject.Encoded()}}},
		PredicateType: predicateType,
	}
	if len(predicate) == 0 {
		// cosign's signature statement has no predicate at all, which the
		// in-toto library's Validate refuses; it is valid in-toto v1.
		return protojson.Marshal(st)
	}
	var s structpb.Struct
	if err := protojson.Unmarshal(predicate, &s); err != nil {
		return nil, fmt.Errorf("predicate is not a JSON object: %w", err)
	}
	st.Predicate = &s
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return protojson.Marshal(st)
}

// SignStatement signs an in-toto statement into a Sigstore bundle as
// cosign does (for a key, its KeyID as the hint), within the cap every
// reader applies.
func SignStatement(ctx context.Context, s Signer, statement []byte) ([]byte, error) {
	b, err := s.Sign(ctx, statement, CosignHint)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBundleSize {
		return nil, fmt.Errorf("sign: the bundle would be %d bytes, over the %d-byte cap every reader applies (attest.MaxBundleSize): keep the predicate under about %d KiB, and store bulky evidence as an artifact of its own, named in the predicate by digest",
			len(b), MaxBundleSize, MaxBundleSize*3/4>>10)
	}
	return b, nil
}

// signCosign signs statement into a DSSE envelope and wraps it in a
// Sigstore bundle, exactly as cosign's key-based signing does (no
// transparency log entry: that needs a network).
func signCosign(ctx context.Context, s signature.SignerVerifier, statement []byte) ([]byte, error) {
	env, err := dsse.WrapSigner(s, InTotoPayloadType).SignMessage(bytes.NewReader(statement), sigopts.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	pub, err := s.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	b, err := cbundle.MakeNewBundle(pub, nil, statement, env, pubPEM, nil)
	if err != nil {
		return nil, fmt.Errorf("sign: bundle: %w", err)
	}
	return b, nil
}

// TrustedSigner is a signer a policy trusts, with the name it goes by:
// a public key (Key), a keyless identity (Keyless) or a certificate
// authority of its own (CertChain), exactly one.
type TrustedSigner struct {
	Name      string
	Key       signature.Verifier
	Keyless   *Keyless
	CertChain *CertChain
}

// Verified is a signature that checked out.
type Verified struct {
	// Signer is the name of the trusted signer that verified it.
	Signer string
	// KeyID is a key's (cosign's hint); Identity and Issuer are what a
	// keyless signer's certificate says; Identity and CA what a
	// certificate from a CA of the signer's own says.
	KeyID                string
	Identity, Issuer, CA string
	PredicateType        string
	// Statement is the verified in-toto statement (JSON).
	Statement json.RawMessage
	statement *intoto.Statement
}

// VerifyBundle checks a bundle (at most MaxBundleSize bytes) against each
// trusted signer in turn and returns the first that verifies it. The
// statement's subject must include subject.
func VerifyBundle(data []byte, subject digest.Digest, keys []TrustedSigner) (*Verified, error) {
	v, err := VerifyBundleStatement(data, keys)
	if err != nil {
		return nil, err
	}
	// Only now, with the signature proven, is the statement worth reading.
	if !coversSubject(v.statement, subject) {
		return nil, fmt.Errorf("%w: signed statement is about %s, not %s", errdef.ErrSubjectMismatch, subjectsOf(v.statement), subject)
	}
	return v, nil
}

// VerifyBundleStatement is VerifyBundle for statements that are not about
// a manifest digest (a witness run's are about files): the caller checks
// what the verified statement is about.
func VerifyBundleStatement(data []byte, keys []TrustedSigner) (*Verified, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: bundle is %d bytes (cap %d)", errdef.ErrBadSignature, len(data), MaxBundleSize)
	}
	b, err := parseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%w: bundle: %v", errdef.ErrBadSignature, err)
	}
	var lastErr error = fmt.Errorf("%w: no trusted signers", errdef.ErrUntrusted)
	for _, k := range keys {
		check := verifyWithKey
		switch {
		case k.Keyless != nil:
			check = VerifyKeyless
		case k.CertChain != nil:
			check = verifyCertChain
		}
		v, err := check(b, k)
		if err == nil && v.statement == nil {
			err = fmt.Errorf("%w: bundle holds no in-toto statement", errdef.ErrBadSignature)
		}
		if err != nil {
			lastErr = err
			continue
		}
		return v, nil
	}
	return nil, lastErr
}

// parseBundle reads a Sigstore bundle. cosign v3 stores signatures made
// with --certificate-chain as v0.3 bundles holding the whole chain, which
// v0.3 does not allow (one certificate) and sigstore-go refuses: such a
// bundle is read with its leaf as the certificate. The intermediates it
// drops come from the verifier's trusted CA certificates instead, so
// this makes nothing easier to accept.
func parseBundle(data []byte) (*bundle.Bundle, error) {
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(data, &pb); err != nil {
		return nil, err
	}
	vm := pb.GetVerificationMaterial()
	if chain := vm.GetX509CertificateChain(); pb.GetMediaType() == BundleMediaType && len(chain.GetCertificates()) > 0 {
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: chain.GetCertificates()[0]}
	}
	return bundle.NewBundle(&pb)
}

func coversSubject(st *intoto.Statement, d digest.Digest) bool {
	for _, s := range st.GetSubject() {
		if s.GetDigest()[d.Algorithm().String()] == d.Encoded() {
			return true
		}
	}
	return false
}

func subjectsOf(st *intoto.Statement) string {
	var out []string
	for _, s := range st.GetSubject() {
		for alg, hex := range s.GetDigest() {
			out = append(out, alg+":"+hex)
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

func verifyWithKey(b *bundle.Bundle, k TrustedSigner) (*Verified, error) {
	// A key is trusted whatever hint the bundle carries: cosign and OMS
	// write different hints for the same key.
	material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(k.Key, time.Time{}, time.Time{}), nil
	})
	// Key-based signatures made offline carry no log entry or timestamp;
	// the key is the whole of the trust, as with `cosign verify --key
	// --insecure-ignore-tlog`.
	v, err := verify.NewVerifier(material, verify.WithNoObserverTimestamps())
	if err != nil {
		return nil, err
	}
	// The subject is checked by the caller on the verified statement, so a
	// signature over another artifact is told apart from a bad signature.
	res, err := v.Verify(b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithKey()))
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %v", errdef.ErrBadSignature, k.Name, err)
	}
	if res.Statement == nil {
		return nil, fmt.Errorf("%w: bundle holds no in-toto statement", errdef.ErrBadSignature)
	}
	out := &Verified{Signer: k.Name, statement: res.Statement}
	if pub, err := k.Key.PublicKey(); err == nil {
		out.KeyID = KeyID(pub)
	}
	out.PredicateType = res.Statement.GetPredicateType()
	out.Statement, _ = protojson.Marshal(res.Statement)
	return out, nil
}

// PEMKeyHint names a public key as OpenSSF Model Signing bundles do in
// publicKey.hint: the hex sha256 of its PKIX PEM text (what Python's
// public_bytes(PEM, SubjectPublicKeyInfo) writes). cosign's hint, KeyID, is
// the base64 sha256 of the DER encoding instead.
func PEMKeyHint(pub crypto.PublicKey) (string, error) {
	pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrKey, err)
	}
	sum := sha256.Sum256(pemBytes)
	return hex.EncodeToString(sum[:]), nil
}

// signWithHint is signCosign with the bundle's publicKey.hint chosen by
// the caller (PEMKeyHint for an OMS bundle) instead of cosign's KeyID. The
// bundle has the same shape: v0.3, DSSE envelope, no log entry.
func signWithHint(ctx context.Context, s signature.SignerVerifier, statement []byte, hint string) ([]byte, error) {
	if hint == "" {
		return nil, fmt.Errorf("sign: empty key hint")
	}
	sig, err := signDSSE(ctx, s, statement)
	if err != nil {
		return nil, err
	}
	return dsseBundle(&protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: hint}},
	}, statement, sig, "")
}

// signDSSE signs statement's DSSE pre-authentication encoding (PAE) and
// returns the signature: what dsse.WrapSigner signs, without the envelope
// it builds and this would parse back, which holds a large statement
// (an OMS statement of 100,000 files is 12 MB) three more times.
func signDSSE(ctx context.Context, s signature.Signer, statement []byte) ([]byte, error) {
	sig, err := s.SignMessage(bytes.NewReader(ssldsse.PAE(InTotoPayloadType, statement)), sigopts.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// dsseBundle is the Sigstore bundle (v0.3) of an in-toto statement in a
// DSSE envelope with one signature, and what vouches for its signer.
func dsseBundle(vm *protobundle.VerificationMaterial, statement, sig []byte, keyID string) ([]byte, error) {
	return protojson.Marshal(&protobundle.Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: statement, PayloadType: InTotoPayloadType, Signatures: []*protodsse.Signature{{Sig: sig, Keyid: keyID}},
		}},
	})
}
