package oms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
)

// Signing methods, as OMS names them.
const (
	SigningKey         = "key"
	SigningCertificate = "certificate"
	SigningSigstore    = "sigstore"
)

// Verifier decides whose OMS bundles are trusted: SignerVerifier (keys
// and keyless identities) or CertificateVerifier.
type Verifier interface {
	// verify checks the bundle's signature and returns the signed payload.
	verify(raw []byte, b *bundleJSON) ([]byte, *Result, error)
}

var (
	_ Verifier = keyVerifier{}
	_ Verifier = (*certificateVerifier)(nil)
)

// SignerVerifier trusts bundles signed by any of signers: a key (the
// "key" method), a keyless identity (the "sigstore" method, checked as
// attest checks any keyless bundle) or a CA of the signer's own (the
// "certificate" method, with the signer's identity rule). As the reference does, a bundle
// naming a key (publicKey.hint) is checked only with the key it names; a
// bundle that names none (pre-v1.1.0 bundles carry publicKey.rawBytes,
// certificate bundles a chain) is checked with each key's signature alone.
func SignerVerifier(signers ...attest.TrustedSigner) Verifier { return keyVerifier{keys: signers} }

type keyVerifier struct{ keys []attest.TrustedSigner }

func (k keyVerifier) verify(raw []byte, b *bundleJSON) ([]byte, *Result, error) {
	var lastErr error = fmt.Errorf("%w: no trusted signers", errdef.ErrUntrusted)
	var hint string
	if pk := b.VerificationMaterial.PublicKey; pk != nil {
		hint = pk.Hint
	}
	for _, key := range k.keys {
		if key.Keyless != nil || key.CertChain != nil {
			check := keylessOMS
			if key.CertChain != nil {
				check = certChainOMS
			}
			payload, res, err := check(raw, b, key)
			if err == nil {
				return payload, res, nil
			}
			lastErr = err
			continue
		}
		if hint != "" && !hintNames(hint, key) {
			lastErr = fmt.Errorf("%w: the bundle names key %s, not %s", errdef.ErrUntrusted, hint, key.Name)
			continue
		}
		if err := verifyDSSE(key.Key, key.Key, b); err != nil {
			lastErr = fmt.Errorf("key %s: %w", key.Name, err)
			continue
		}
		return b.DSSEEnvelope.Payload, &Result{Method: SigningKey, Signer: key.Name}, nil
	}
	return nil, nil, lastErr
}

// certChainOMS checks an OMS bundle of the certificate method against a
// signer known by its CA, as CertificateVerifier does, and its identity.
func certChainOMS(raw []byte, b *bundleJSON, s attest.TrustedSigner) ([]byte, *Result, error) {
	c := s.CertChain
	v := &certificateVerifier{roots: x509.NewCertPool(), intermediates: c.Intermediates, now: time.Now}
	for _, r := range c.Roots {
		v.roots.AddCert(r)
	}
	payload, res, leaf, err := v.check(b)
	if err != nil {
		return nil, nil, err
	}
	if !c.Names(leaf) {
		return nil, nil, fmt.Errorf("%w: %s wants %s", errdef.ErrUntrusted, s.Name, c)
	}
	res.Signer = s.Name
	return payload, res, nil
}

// keylessOMS checks an OMS bundle signed keyless against signer s.
func keylessOMS(raw []byte, _ *bundleJSON, s attest.TrustedSigner) ([]byte, *Result, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errdef.ErrBadBundle, err)
	}
	v, err := attest.VerifyKeyless(&b, s)
	if err != nil {
		return nil, nil, err
	}
	env := b.GetDsseEnvelope()
	if env == nil || env.GetPayloadType() != attest.InTotoPayloadType {
		return nil, nil, fmt.Errorf("%w: no in-toto DSSE envelope", errdef.ErrBadBundle)
	}
	// The payload sigstore-go verified, not a second parse of the JSON.
	return env.GetPayload(), &Result{Method: SigningSigstore, Signer: s.Name, Issuer: v.Issuer}, nil
}

// hintNames reports whether a bundle's key hint names key: the reference's
// hint (hex sha256 of the PEM) or cosign's (base64 sha256 of the DER).
func hintNames(hint string, key attest.TrustedSigner) bool {
	pub, err := key.Key.PublicKey()
	if err != nil {
		return false
	}
	if h, err := attest.PEMKeyHint(pub); err == nil && strings.EqualFold(h, hint) {
		return true
	}
	return hint == attest.KeyID(pub)
}

// CertificateVerifier trusts bundles whose x509CertificateChain (leaf,
// then intermediates) chains to one of the CA certificates in rootsPEM
// (the "certificate" method). The leaf must be valid now, allowed to sign
// (key usage digitalSignature or extended key usage codeSigning), and its
// key must verify the signature.
func CertificateVerifier(rootsPEM []byte) (Verifier, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := rootsPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CA certificate: %v", attest.ErrKey, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no PEM certificate in the CA file", attest.ErrKey)
	}
	return &certificateVerifier{roots: pool, now: time.Now}, nil
}

type certificateVerifier struct {
	roots *x509.CertPool
	// intermediates are trusted besides those the bundle carries.
	intermediates []*x509.Certificate
	now           func() time.Time
}

func (c *certificateVerifier) verify(_ []byte, b *bundleJSON) ([]byte, *Result, error) {
	payload, res, _, err := c.check(b)
	return payload, res, err
}

// check verifies the bundle and returns the signing certificate too.
func (c *certificateVerifier) check(b *bundleJSON) ([]byte, *Result, *x509.Certificate, error) {
	chain := b.VerificationMaterial.X509CertificateChain
	if chain == nil || len(chain.Certificates) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: the bundle has no x509CertificateChain (not the certificate method)", errdef.ErrUntrusted)
	}
	certs := make([]*x509.Certificate, len(chain.Certificates))
	for i, raw := range chain.Certificates {
		cert, err := x509.ParseCertificate(raw.RawBytes)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: certificate %d: %v", errdef.ErrBadBundle, i, err)
		}
		certs[i] = cert
	}
	leaf := certs[0]
	intermediates := x509.NewCertPool()
	for _, cert := range slices.Concat(certs[1:], c.intermediates) {
		intermediates.AddCert(cert)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         c.roots,
		Intermediates: intermediates,
		CurrentTime:   c.now(),
		// The reference checks key usage below, not the EKU chain.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: signing certificate %q: %v", errdef.ErrUntrusted, leaf.Subject, err)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return nil, nil, nil, fmt.Errorf("%w: certificate %q may not sign (no digitalSignature or codeSigning usage)", errdef.ErrUntrusted, leaf.Subject)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(leaf.PublicKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: certificate key: %v", errdef.ErrUntrusted, err)
	}
	v, err := attest.LoadPublicKey(pubPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: certificate key: %v", errdef.ErrUntrusted, err)
	}
	// model_signing v0.2.0 hashed certificate signatures with SHA-256
	// whatever the curve (its key method used the curve's hash), and the
	// reference verifies them so.
	compat := v
	if ec, ok := leaf.PublicKey.(*ecdsa.PublicKey); ok {
		if compat, err = signature.LoadECDSAVerifier(ec, crypto.SHA256); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: certificate key: %v", errdef.ErrUntrusted, err)
		}
	}
	if err := verifyDSSE(v, compat, b); err != nil {
		return nil, nil, nil, fmt.Errorf("certificate %q: %w", leaf.Subject, err)
	}
	return b.DSSEEnvelope.Payload, &Result{Method: SigningCertificate, Signer: leaf.Subject.String(), Certificate: leaf.Subject.String()}, leaf, nil
}
