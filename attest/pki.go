package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"regexp"
	"slices"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/vessel-oci/vessel/errdef"
)

// CertSigner signs with a private key that a company's own certificate
// authority certified (OpenSSF Model Signing's "certificate" method;
// `cosign sign --key --certificate --certificate-chain`). Its bundles
// carry the leaf certificate; OMS bundles carry the intermediates too, as
// the reference writes them.
type CertSigner struct {
	Key           *KeySigner
	Leaf          *x509.Certificate
	Intermediates []*x509.Certificate
}

// NewCertSigner checks that leafPEM certifies key and reads the
// intermediates in chainPEM (certificates that are their own issuer, the
// roots, are left out: verifiers bring those).
func NewCertSigner(key *KeySigner, leafPEM, chainPEM []byte) (*CertSigner, error) {
	leafs, err := cryptoutils.UnmarshalCertificatesFromPEM(leafPEM)
	if err != nil || len(leafs) == 0 {
		return nil, fmt.Errorf("%w: signing certificate: not a PEM certificate (%v)", ErrKey, err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if err := cryptoutils.EqualKeys(pub, leafs[0].PublicKey); err != nil {
		return nil, fmt.Errorf("%w: the signing certificate is for another key than the private key", ErrKey)
	}
	c := &CertSigner{Key: key, Leaf: leafs[0]}
	if len(chainPEM) > 0 {
		chain, err := cryptoutils.UnmarshalCertificatesFromPEM(chainPEM)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate chain: %v", ErrKey, err)
		}
		for _, cert := range chain {
			if !isSelfIssued(cert) {
				c.Intermediates = append(c.Intermediates, cert)
			}
		}
	}
	return c, nil
}

// isSelfIssued reports whether c signed itself. (CheckSignatureFrom would
// also ask c to be a CA: a self-signed signing certificate, its own trust
// anchor, is not.)
func isSelfIssued(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// Sign implements Signer: a cosign bundle carries the leaf (a v0.3 bundle
// has room for one certificate), an OMS bundle (PEMHint) the leaf and the
// intermediates.
func (c *CertSigner) Sign(ctx context.Context, statement []byte, hint HintStyle) ([]byte, error) {
	sig, err := signDSSE(ctx, c.Key, statement)
	if err != nil {
		return nil, err
	}
	vm := &protobundle.VerificationMaterial{}
	if hint == PEMHint {
		chain := &protocommon.X509CertificateChain{}
		for _, cert := range append([]*x509.Certificate{c.Leaf}, c.Intermediates...) {
			chain.Certificates = append(chain.Certificates, &protocommon.X509Certificate{RawBytes: cert.Raw})
		}
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: chain}
	} else {
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: c.Leaf.Raw}}
	}
	return dsseBundle(vm, statement, sig, "")
}

// PublicKey implements Signer.
func (c *CertSigner) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return c.Key.PublicKey(opts...)
}

var _ Signer = (*CertSigner)(nil)

// CertChain is a signer known by a certificate authority of its own (a
// vendor's model-signing CA): the signing certificate must chain to one of
// Roots, through Intermediates or those the bundle carries, be valid now,
// and, when an identity is set, name it among its subject alternative
// names (email, URI, DNS name), exactly or by a regular expression.
type CertChain struct {
	Roots, Intermediates     []*x509.Certificate
	Identity, IdentityRegexp string

	material root.TrustedMaterial
	re       *regexp.Regexp
}

// NewCertChain reads the CA certificates of chainPEM (the self-issued
// ones are roots, the others intermediates).
func NewCertChain(chainPEM []byte, identity, identityRegexp string) (*CertChain, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(chainPEM)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("%w: CA certificates: no PEM certificate (%v)", ErrKey, err)
	}
	if identity != "" && identityRegexp != "" {
		return nil, fmt.Errorf("%w: give an identity or an identity regexp, not both", ErrKey)
	}
	c := &CertChain{Identity: identity, IdentityRegexp: identityRegexp}
	if identityRegexp != "" {
		if c.re, err = regexp.Compile(identityRegexp); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
	}
	for _, cert := range certs {
		if isSelfIssued(cert) {
			c.Roots = append(c.Roots, cert)
		} else {
			c.Intermediates = append(c.Intermediates, cert)
		}
	}
	if len(c.Roots) == 0 {
		return nil, fmt.Errorf("%w: CA certificates: no root (self-signed) certificate among %d", ErrKey, len(certs))
	}
	var cas []root.CertificateAuthority
	for _, r := range c.Roots {
		cas = append(cas, &root.FulcioCertificateAuthority{Root: r, Intermediates: c.Intermediates, ValidityPeriodStart: r.NotBefore, ValidityPeriodEnd: r.NotAfter})
	}
	if c.material, err = root.NewTrustedRoot(root.TrustedRootMediaType01, cas, nil, nil, nil); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return c, nil
}

// Names reports whether cert names the chain's identity (or no identity
// is asked for).
func (c *CertChain) Names(cert *x509.Certificate) bool {
	if c.Identity == "" && c.re == nil {
		return true
	}
	for _, n := range certNames(cert) {
		if n == c.Identity || c.re != nil && c.re.MatchString(n) {
			return true
		}
	}
	return false
}

// String describes the rule, for messages.
func (c *CertChain) String() string {
	s := fmt.Sprintf("a certificate from CA %q", c.Roots[0].Subject)
	switch {
	case c.Identity != "":
		s += " for " + c.Identity
	case c.re != nil:
		s += " for ~" + c.IdentityRegexp
	}
	return s
}

// verifyCertChain checks a bundle signed under a CA of the signer's own.
// No log or timestamp is asked for: the certificate must be valid now.
func verifyCertChain(b *bundle.Bundle, s TrustedSigner) (*Verified, error) {
	return checkCertChain(b, s, verify.WithoutArtifactUnsafe())
}

func checkCertChain(b *bundle.Bundle, s TrustedSigner, artifact verify.ArtifactPolicyOption) (*Verified, error) {
	c := s.CertChain
	v, err := verify.NewVerifier(c.material, verify.WithCurrentTime())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errdef.ErrBadSignature, s.Name, err)
	}
	res, err := v.Verify(b, verify.NewPolicy(artifact, verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return nil, fmt.Errorf("%w: %s (%s): %v", errdef.ErrBadSignature, s.Name, c, err)
	}
	vc, err := b.VerificationContent()
	if err != nil || vc.Certificate() == nil {
		return nil, fmt.Errorf("%w: %s: the bundle holds no certificate", errdef.ErrBadSignature, s.Name)
	}
	if !c.Names(vc.Certificate()) {
		return nil, fmt.Errorf("%w: %s wants %s; the certificate names %v", errdef.ErrUntrusted, s.Name, c, certNames(vc.Certificate()))
	}
	return withStatement(&Verified{Signer: s.Name, Identity: certIdentity(vc.Certificate()), CA: vc.Certificate().Issuer.String()}, res)
}

// certNames are a certificate's subject alternative names.
func certNames(c *x509.Certificate) []string {
	names := slices.Concat(c.EmailAddresses, c.DNSNames)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	return names
}

// certIdentity is the first name a certificate gives, else its subject.
func certIdentity(c *x509.Certificate) string {
	if n := certNames(c); len(n) > 0 {
		return n[0]
	}
	return c.Subject.String()
}
