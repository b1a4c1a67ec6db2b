package attest

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
)

// Sigstore's public instance: where keyless signing goes when nothing
// else is named.
const (
	PublicFulcio = "https://fulcio.sigstore.dev"
	PublicRekor  = "https://rekor.sigstore.dev"
)

// KeylessSigner signs as a CI job or a person does without keys: for
// each signature it makes a fresh key, has a Sigstore certificate
// authority (Fulcio) certify it for the identity an OIDC token vouches
// for, and gets proof of when it signed from timestamp authorities and/or
// transparency logs. The bundle is what `cosign sign` makes, so cosign
// verifies it with --certificate-identity and --certificate-oidc-issuer.
type KeylessSigner struct {
	// Fulcio is the certificate authority's base URL.
	Fulcio string
	// TSAs are RFC 3161 timestamping URLs (.../api/v1/timestamp); Rekor
	// are transparency log base URLs. At least one of them is needed.
	TSAs, Rekor []string
	// Token returns an OIDC ID token for audience "sigstore" (see
	// AmbientToken); it is asked for once per signature, as CI tokens
	// expire within minutes.
	Token func(ctx context.Context) (string, error)
	// TrustedRoot, if set, verifies each bundle before it is returned.
	TrustedRoot root.TrustedMaterial

	mu               sync.Mutex
	identity, issuer string
}

// KeylessFromSigningConfig fills the services of a KeylessSigner from a
// Sigstore signing config (cosign's --signing-config format): its Fulcio,
// and the timestamp authorities and logs it asks for.
func KeylessFromSigningConfig(sc *root.SigningConfig, token func(context.Context) (string, error)) (*KeylessSigner, error) {
	now := time.Now()
	ca, err := root.SelectService(sc.FulcioCertificateAuthorityURLs(), sign.FulcioAPIVersions, now)
	if err != nil {
		return nil, fmt.Errorf("%w: signing config: no usable Fulcio: %v", ErrKey, err)
	}
	k := &KeylessSigner{Fulcio: ca.URL, Token: token}
	if tsas := sc.TimestampAuthorityURLs(); len(tsas) > 0 {
		svcs, err := root.SelectServices(tsas, sc.TimestampAuthorityURLsConfig(), sign.TimestampAuthorityAPIVersions, now)
		if err != nil {
			return nil, fmt.Errorf("%w: signing config: timestamp authorities: %v", ErrKey, err)
		}
		for _, s := range svcs {
			k.TSAs = append(k.TSAs, s.URL)
		}
	}
	if logs := sc.RekorLogURLs(); len(logs) > 0 {
		svcs, err := root.SelectServices(logs, sc.RekorLogURLsConfig(), []uint32{1}, now)
		if err != nil {
			return nil, fmt.Errorf("%w: signing config: transparency logs: %v", ErrKey, err)
		}
		for _, s := range svcs {
			k.Rekor = append(k.Rekor, s.URL)
		}
	}
	return k, nil
}

// Sign implements Signer; keyless bundles carry their certificate, so
// hint does not apply.
func (k *KeylessSigner) Sign(ctx context.Context, statement []byte, _ HintStyle) ([]byte, error) {
	if k.Fulcio == "" {
		return nil, fmt.Errorf("%w: keyless signing needs a Fulcio URL", ErrKey)
	}
	if len(k.TSAs) == 0 && len(k.Rekor) == 0 {
		return nil, fmt.Errorf("%w: keyless signing needs a timestamp authority or a transparency log: its certificate lives minutes, and only proof of when it signed makes it verifiable later", ErrKey)
	}
	token, err := k.Token(ctx)
	if err != nil {
		return nil, err
	}
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	opts := sign.BundleOptions{
		CertificateProvider:        sign.NewFulcio(&sign.FulcioOptions{BaseURL: k.Fulcio, Retries: 2}),
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: token},
		Context:                    ctx,
		TrustedRoot:                k.TrustedRoot,
	}
	for _, u := range k.TSAs {
		opts.TimestampAuthorities = append(opts.TimestampAuthorities, sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: u, Retries: 2}))
	}
	for _, u := range k.Rekor {
		opts.TransparencyLogs = append(opts.TransparencyLogs, sign.NewRekor(&sign.RekorOptions{BaseURL: u, Retries: 2}))
	}
	b, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: InTotoPayloadType}, kp, opts)
	if err != nil {
		return nil, fmt.Errorf("sign keyless (Fulcio %s): %w", k.Fulcio, err)
	}
	if raw := b.GetVerificationMaterial().GetCertificate().GetRawBytes(); raw != nil {
		if cert, err := x509.ParseCertificate(raw); err == nil {
			if s, err := certificate.SummarizeCertificate(cert); err == nil {
				k.mu.Lock()
				k.identity, k.issuer = s.SubjectAlternativeName, s.Issuer
				k.mu.Unlock()
			}
		}
	}
	return protojson.Marshal(b)
}

// PublicKey implements Signer: a keyless signer has no lasting key.
func (k *KeylessSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return nil, ErrKeyless
}

// Signed returns the identity and OIDC issuer the last certificate named.
func (k *KeylessSigner) Signed() (identity, issuer string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.identity, k.issuer
}

var _ Signer = (*KeylessSigner)(nil)

// errNoToken says where a token would have come from.
var errNoToken = errors.New("no OIDC identity token: in GitHub Actions give the job `permissions: id-token: write`; in GitLab CI an `id_tokens:` entry named SIGSTORE_ID_TOKEN with `aud: sigstore`; elsewhere --identity-token-file FILE")
