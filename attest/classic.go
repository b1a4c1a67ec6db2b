package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/vessel-oci/vessel/errdef"
)

// cosign's classic signatures: a manifest tagged "sha256-<hex>.sig" whose
// layers are simple-signing payloads, each with its signature in an
// annotation.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	classicSigAnnotation   = "dev.cosignproject.cosign/signature"
	classicType            = "cosign container image signature"
	// MaxClassicPayload caps a simple-signing payload before it is parsed.
	MaxClassicPayload = 1 << 20
)

// ClassicTag is the tag cosign stores classic signatures of d under.
func ClassicTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// ClassicLayers picks the signature layers of a classic .sig manifest.
func ClassicLayers(m ocispec.Manifest) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, l := range m.Layers {
		if l.MediaType == SimpleSigningMediaType && l.Annotations[classicSigAnnotation] != "" {
			out = append(out, l)
		}
	}
	return out
}

// VerifyClassic checks one classic signature layer: payload is the layer's
// blob (already capped and digest-checked), the signature is in the
// layer's annotation, and the payload must name subject.
func VerifyClassic(layer ocispec.Descriptor, payload []byte, subject digest.Digest, keys []TrustedSigner) (*Verified, error) {
	sig, err := base64.StdEncoding.DecodeString(layer.Annotations[classicSigAnnotation])
	if err != nil {
		return nil, fmt.Errorf("%w: classic signature is not base64: %v", errdef.ErrBadSignature, err)
	}
	var signer *TrustedSigner
	var byCert *Verified
	var b *bundle.Bundle // a certificate signature as a bundle, made once
	lastErr := fmt.Errorf("%w: classic signature verifies with no trusted key", errdef.ErrBadSignature)
	for i, k := range keys {
		if k.Key != nil {
			if k.Key.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)) == nil {
				signer = &keys[i]
				break
			}
			continue
		}
		if layer.Annotations[classicCertAnnotation] == "" {
			continue
		}
		if b == nil {
			if b, err = classicBundle(layer, payload, sig); err != nil {
				return nil, err
			}
		}
		check := verifyKeyless
		if k.CertChain != nil {
			check = checkCertChain
		}
		if byCert, err = check(b, k, verify.WithArtifact(bytes.NewReader(payload))); err == nil {
			signer = &keys[i]
			break
		}
		lastErr = err
	}
	if signer == nil {
		return nil, lastErr
	}
	var p struct {
		Critical struct {
			Image struct {
				Digest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("%w: simple-signing payload: %v", errdef.ErrBadSignature, err)
	}
	if p.Critical.Type != classicType {
		return nil, fmt.Errorf("%w: simple-signing type %q", errdef.ErrBadSignature, p.Critical.Type)
	}
	if p.Critical.Image.Digest != subject.String() {
		return nil, fmt.Errorf("%w: signed payload names %s, not %s", errdef.ErrSubjectMismatch, p.Critical.Image.Digest, subject)
	}
	v := &Verified{Signer: signer.Name, PredicateType: CosignSignPredicate}
	switch {
	case byCert != nil:
		v.Identity, v.Issuer, v.CA = byCert.Identity, byCert.Issuer, byCert.CA
	default:
		if pub, err := signer.Key.PublicKey(); err == nil {
			v.KeyID = KeyID(pub)
		}
	}
	return v, nil
}

// Annotations of a classic signature made with a certificate (keyless,
// or --certificate): the signing certificate, and an RFC 3161 timestamp
// of the signature ({"SignedRFC3161Timestamp": base64}).
const (
	classicCertAnnotation      = "dev.sigstore.cosign/certificate"
	classicTimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp"
	classicRekorAnnotation     = "dev.sigstore.cosign/bundle"
)

// classicBundle is a classic certificate signature as a Sigstore bundle
// (a message signature over the payload) that sigstore-go verifies.
// Hand-written: neither sigstore-go nor cosign's library makes one from
// the annotations. A Rekor entry (the "bundle" annotation: the entry and
// its inclusion promise, no inclusion proof) makes it a v0.1 bundle, the
// version that holds a promise alone; otherwise v0.3.
func classicBundle(layer ocispec.Descriptor, payload, sig []byte) (*bundle.Bundle, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(layer.Annotations[classicCertAnnotation]))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("%w: classic signature certificate: %v", errdef.ErrBadSignature, err)
	}
	mediaType := BundleMediaType
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: certs[0].Raw}},
	}
	if rk := layer.Annotations[classicRekorAnnotation]; rk != "" {
		entry, err := classicRekorEntry(rk)
		if err != nil {
			return nil, err
		}
		mediaType = bundleMediaTypeV01
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{
			Certificates: []*protocommon.X509Certificate{{RawBytes: certs[0].Raw}},
		}}
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{entry}
	}
	if ts := layer.Annotations[classicTimestampAnnotation]; ts != "" {
		var t struct {
			SignedRFC3161Timestamp []byte
		}
		if err := json.Unmarshal([]byte(ts), &t); err != nil || len(t.SignedRFC3161Timestamp) == 0 {
			return nil, fmt.Errorf("%w: classic signature timestamp: %v", errdef.ErrBadSignature, err)
		}
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: t.SignedRFC3161Timestamp}},
		}
	}
	sum := sha256.Sum256(payload)
	b, err := bundle.NewBundle(&protobundle.Bundle{
		MediaType:            mediaType,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
			Signature:     sig,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: classic signature: %v", errdef.ErrBadSignature, err)
	}
	return b, nil
}

// bundleMediaTypeV01 is the first Sigstore bundle version, the one whose
// log entries may carry an inclusion promise without a proof.
const bundleMediaTypeV01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"

// classicRekorEntry reads the "bundle" annotation cosign v2 writes for a
// signature it logged in Rekor: the entry (body, time, index, log) and the
// log's signed entry timestamp over it. The body's kind and version come
// from the body; sigstore-go checks the promise with the log's key from
// the trusted root and the body against the signature and certificate.
func classicRekorEntry(annotation string) (*protorekor.TransparencyLogEntry, error) {
	var rk struct {
		SignedEntryTimestamp []byte
		Payload              struct {
			Body           []byte `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		}
	}
	if err := json.Unmarshal([]byte(annotation), &rk); err != nil {
		return nil, fmt.Errorf("%w: classic signature Rekor entry: %v", errdef.ErrBadSignature, err)
	}
	var body struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	logID, err := hex.DecodeString(rk.Payload.LogID)
	if err == nil {
		err = json.Unmarshal(rk.Payload.Body, &body)
	}
	if err != nil || len(rk.SignedEntryTimestamp) == 0 || body.Kind == "" || body.APIVersion == "" {
		return nil, fmt.Errorf("%w: classic signature Rekor entry: no entry body, log ID or signed entry timestamp (%v)", errdef.ErrBadSignature, err)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          rk.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: body.Kind, Version: body.APIVersion},
		IntegratedTime:    rk.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: rk.SignedEntryTimestamp},
		CanonicalizedBody: rk.Payload.Body,
	}, nil
}

// cosign's classic attestations: a manifest tagged "sha256-<hex>.att"
// whose layers are DSSE envelopes over in-toto statements (v0.1 from
// cosign attest).
const DSSEMediaType = "application/vnd.dsse.envelope.v1+json"

// ClassicAttestationTag is the tag cosign stores classic attestations of d under.
func ClassicAttestationTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".att"
}

// VerifyDSSE checks a DSSE envelope (already capped and digest-checked)
// holding an in-toto statement (v0.1 or v1) about subject.
func VerifyDSSE(envelope []byte, subject digest.Digest, keys []TrustedSigner) (*Verified, error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, fmt.Errorf("%w: DSSE envelope: %v", errdef.ErrBadSignature, err)
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, fmt.Errorf("%w: DSSE payload type %q", errdef.ErrBadSignature, env.PayloadType)
	}
	var signer *TrustedSigner
	for i, k := range keys {
		if k.Key != nil && dsse.WrapVerifier(k.Key).VerifySignature(bytes.NewReader(envelope), nil) == nil {
			signer = &keys[i]
			break
		}
	}
	if signer == nil {
		return nil, fmt.Errorf("%w: DSSE envelope verifies with no trusted key", errdef.ErrBadSignature)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: DSSE payload: %v", errdef.ErrBadSignature, err)
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("%w: statement: %v", errdef.ErrBadSignature, err)
	}
	if !strings.HasPrefix(st.Type, "https://in-toto.io/Statement/") {
		return nil, fmt.Errorf("%w: statement type %q", errdef.ErrBadSignature, st.Type)
	}
	covered := false
	for _, s := range st.Subject {
		covered = covered || s.Digest[subject.Algorithm().String()] == subject.Encoded()
	}
	if !covered {
		return nil, fmt.Errorf("%w: attestation is not about %s", errdef.ErrSubjectMismatch, subject)
	}
	v := &Verified{Signer: signer.Name, PredicateType: st.PredicateType, Statement: payload}
	if pub, err := signer.Key.PublicKey(); err == nil {
		v.KeyID = KeyID(pub)
	}
	return v, nil
}
