package attest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Signer signs in-toto statements into Sigstore bundles: a private key
// (*KeySigner: a key file, PKCS#11 or KMS), keyless (*KeylessSigner) or a
// key with its certificate from a CA of one's own (*CertSigner).
type Signer interface {
	// Sign returns a Sigstore bundle (v0.3) holding a DSSE envelope over
	// statement. hint says how a key signer's bundle names its key; a
	// keyless bundle carries its certificate instead.
	Sign(ctx context.Context, statement []byte, hint HintStyle) ([]byte, error)
	// PublicKey is a key signer's public key; a keyless signer has no
	// lasting key (ErrKeyless).
	PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error)
}

// HintStyle is how a key-signed bundle's publicKey.hint names the key.
type HintStyle int

const (
	// CosignHint is cosign's: KeyID, the base64 sha256 of the key's DER.
	CosignHint HintStyle = iota
	// PEMHint is OpenSSF Model Signing's: PEMKeyHint.
	PEMHint
)

// KeySigner signs with a private key.
type KeySigner struct {
	signature.SignerVerifier
}

// Sign implements Signer.
func (k *KeySigner) Sign(ctx context.Context, statement []byte, hint HintStyle) ([]byte, error) {
	if hint == PEMHint {
		pub, err := k.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("sign: %w", err)
		}
		h, err := PEMKeyHint(pub)
		if err != nil {
			return nil, err
		}
		return signWithHint(ctx, k.SignerVerifier, statement, h)
	}
	return signCosign(ctx, k.SignerVerifier, statement)
}

// GenerateKeyPair makes an ECDSA P-256 key pair in cosign's formats: the
// private key encrypted with password ("ENCRYPTED SIGSTORE PRIVATE KEY"),
// the public key as PKIX PEM.
func GenerateKeyPair(password []byte) (privatePEM, publicPEM []byte, err error) {
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		return nil, nil, fmt.Errorf("%w: generate: %v", ErrKey, err)
	}
	return keys.PrivateBytes, keys.PublicBytes, nil
}

// IsEncrypted reports whether a private key file needs a password.
func IsEncrypted(keyPEM []byte) bool {
	p, _ := pem.Decode(keyPEM)
	return p != nil && (p.Type == cosign.CosignPrivateKeyPemType || p.Type == cosign.SigstorePrivateKeyPemType)
}

// LoadPrivateKey reads a signing key: cosign's encrypted format (password
// needed) or plain PKCS#8 / SEC 1 PEM (ECDSA P-256/P-384, Ed25519).
func LoadPrivateKey(keyPEM, password []byte) (*KeySigner, error) {
	if IsEncrypted(keyPEM) {
		// Ed25519 signs DSSE with PureEd25519, which bundles verify with;
		// cosign's default of Ed25519ph is only for hashedrekord entries.
		sv, err := cosign.LoadPrivateKey(keyPEM, password, &[]signature.LoadOption{})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		return &KeySigner{sv}, nil
	}
	pk, err := cryptoutils.UnmarshalPEMToPrivateKey(keyPEM, cryptoutils.SkipPassword)
	if err != nil {
		return nil, fmt.Errorf("%w: not a cosign, PKCS#8 or EC private key: %v", ErrKey, err)
	}
	if err := checkKeyType(publicOf(pk)); err != nil {
		return nil, err
	}
	sv, err := signature.LoadDefaultSignerVerifier(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &KeySigner{sv}, nil
}

// LoadPublicKey reads a PEM public key (PKIX) and returns a verifier.
func LoadPublicKey(pubPEM []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: not a PEM public key: %v", ErrKey, err)
	}
	if err := checkKeyType(pub); err != nil {
		return nil, err
	}
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return v, nil
}

func publicOf(pk crypto.PrivateKey) crypto.PublicKey {
	if s, ok := pk.(crypto.Signer); ok {
		return s.Public()
	}
	return nil
}

// checkKeyType accepts the key types vessel signs with and verifies.
func checkKeyType(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() || k.Curve == elliptic.P521() {
			return nil
		}
		return fmt.Errorf("%w: unsupported ECDSA curve %s", ErrKey, k.Curve.Params().Name)
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("%w: unsupported key type %T (want ECDSA P-256/P-384 or Ed25519)", ErrKey, pub)
}

// KeyID names a public key as cosign's bundle hint does: base64 of the
// sha256 of its PKIX DER encoding.
func KeyID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}
