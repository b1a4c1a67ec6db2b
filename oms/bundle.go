package oms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
)

// bundleMediaTypes are the Sigstore bundle versions a verifier reads.
var bundleMediaTypes = map[string]bool{
	"application/vnd.dev.sigstore.bundle+json;version=0.1": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.2": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
	"application/vnd.dev.sigstore.bundle.v0.3+json":        true,
}

// bundleJSON is the part of a Sigstore bundle that OMS key and certificate
// verification reads. It is parsed here rather than by sigstore-go because
// the reference's older bundles carry publicKey.rawBytes and keyDetails,
// which are not fields of the protobuf PublicKeyIdentifier.
type bundleJSON struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial *struct {
		PublicKey *struct {
			Hint     string `json:"hint"`
			RawBytes []byte `json:"rawBytes"`
		} `json:"publicKey"`
		X509CertificateChain *struct {
			Certificates []struct {
				RawBytes []byte `json:"rawBytes"`
			} `json:"certificates"`
		} `json:"x509CertificateChain"`
		Certificate *struct {
			RawBytes []byte `json:"rawBytes"`
		} `json:"certificate"`
	} `json:"verificationMaterial"`
	DSSEEnvelope *struct {
		Payload     []byte `json:"payload"`
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			Sig   []byte  `json:"sig"`
			KeyID *string `json:"keyid"` // absent, null or "" all occur
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
}

// parseBundle checks a bundle's shape: size, media type, verification
// material present, a DSSE envelope with a payload and a signature.
func parseBundle(data []byte) (*bundleJSON, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes (cap %d)", errdef.ErrBadBundle, len(data), MaxBundleSize)
	}
	var b bundleJSON
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: %v", errdef.ErrBadBundle, err)
	}
	switch {
	case !bundleMediaTypes[b.MediaType]:
		return nil, fmt.Errorf("%w: media type %q is not a Sigstore bundle v0.1-v0.3", errdef.ErrBadBundle, b.MediaType)
	case b.VerificationMaterial == nil:
		return nil, fmt.Errorf("%w: no verificationMaterial", errdef.ErrBadBundle)
	case b.DSSEEnvelope == nil:
		return nil, fmt.Errorf("%w: no dsseEnvelope (an OMS bundle signs a DSSE envelope)", errdef.ErrBadBundle)
	case len(b.DSSEEnvelope.Payload) == 0:
		return nil, fmt.Errorf("%w: empty DSSE payload", errdef.ErrBadBundle)
	case b.DSSEEnvelope.PayloadType != attest.InTotoPayloadType:
		return nil, fmt.Errorf("%w: DSSE payload type %q, want %s", errdef.ErrBadBundle, b.DSSEEnvelope.PayloadType, attest.InTotoPayloadType)
	case len(b.DSSEEnvelope.Signatures) == 0 || len(b.DSSEEnvelope.Signatures[0].Sig) == 0:
		return nil, fmt.Errorf("%w: DSSE envelope has no signature", errdef.ErrBadBundle)
	}
	return &b, nil
}

// pae is DSSE's pre-authentication encoding.
func pae(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	b.Write(payload)
	return b.Bytes()
}

// paeCompat is the encoding model_signing v0.2.0 signed by mistake: Python
// formatted the payload bytes into a str, so their repr (b'...') was
// signed, after a "DSSEV1" prefix. The reference still verifies it.
func paeCompat(payloadType string, payload []byte) []byte {
	return []byte(fmt.Sprintf("DSSEV1 %d %s %d %s", len(payloadType), payloadType, len(payload), pyBytesRepr(payload)))
}

// pyBytesRepr is Python's repr() of a bytes value.
func pyBytesRepr(b []byte) string {
	quote := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		quote = '"'
	}
	var s strings.Builder
	s.WriteString("b")
	s.WriteByte(quote)
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c == '\t':
			s.WriteString(`\t`)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\r':
			s.WriteString(`\r`)
		case c < 0x20 || c >= 0x7f:
			s.WriteString(`\x`)
			s.WriteString(strconv.FormatUint(uint64(c)|0x100, 16)[1:])
		default:
			s.WriteByte(c)
		}
	}
	s.WriteByte(quote)
	return s.String()
}

// verifyDSSE checks the envelope's first signature, as the reference
// does: with v over the DSSE encoding, else with compat over the one
// model_signing v0.2.0 signed (paeCompat).
func verifyDSSE(v, compat signature.Verifier, b *bundleJSON) error {
	env := b.DSSEEnvelope
	sig := env.Signatures[0].Sig
	err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae(env.PayloadType, env.Payload)))
	if err == nil {
		return nil
	}
	if compat.VerifySignature(bytes.NewReader(sig), bytes.NewReader(paeCompat(env.PayloadType, env.Payload))) == nil {
		return nil
	}
	return fmt.Errorf("%w: DSSE signature: %v", errdef.ErrBadSignature, err)
}
