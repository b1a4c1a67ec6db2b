package workflow

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/attest"
)

// SignResult names the signature a Sign stored.
type SignResult struct {
	// Reference is the signed model, by digest.
	Reference     string        `json:"reference"`
	Digest        digest.Digest `json:"digest"`
	Signature     digest.Digest `json:"signature"`
	PredicateType string        `json:"predicateType"`
	KeyID         string        `json:"keyId,omitempty"`
	// Identity and Issuer: a keyless signature's certificate's.
	Identity string `json:"identity,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	// OMS is the OpenSSF Model Signing signature stored with it, if the
	// model's manifest names every file's sha256 (raw layers).
	OMS digest.Digest `json:"oms,omitempty"`
}

// Sign signs the model repo names (resolved to its digest once) and stores
// the signature beside it as an OCI 1.1 referrer, in cosign's bundle
// format, through the referrers tag schema where the registry lacks the
// API. It reads the manifest only, never the weights. What is not a model
// (a container image or index) gets the cosign signature alone, as
// cosign sign would give it.
func Sign(ctx context.Context, repo Repository, signer attest.Signer) (*SignResult, error) {
	return sign(ctx, repo, signer, nil)
}

// SignPushed is Sign for the model a push just stored, which repo names
// (pinned to its digest): the digests of the files inside its tar layers
// come from the push, which hashed them, rather than from fetching those
// layers again.
func SignPushed(ctx context.Context, repo Repository, signer attest.Signer, pushed *PushResult) (*SignResult, error) {
	return sign(ctx, repo, signer, pushed)
}

// sign signs; pushed, when set, is the push that stored the model.
func sign(ctx context.Context, repo Repository, signer attest.Signer, pushed *PushResult) (*SignResult, error) {
	m, err := resolveSubject(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("sign %w", err)
	}
	var files []File
	if pushed != nil {
		if m.Desc.Digest != pushed.Digest {
			return nil, fmt.Errorf("sign %s: it is %s, not the %s pushed", m.Ref, m.Desc.Digest, pushed.Digest)
		}
		files = pushed.Files
	}
	stmt, err := attest.Statement(m.Desc.Digest, "", attest.CosignSignPredicate, nil)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", m.Ref, err)
	}
	desc, err := attach(ctx, repo, m, signer, stmt, attest.CosignSignPredicate)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", m.Ref, err)
	}
	var omsDesc digest.Digest
	if m.Plan != nil {
		if omsDesc, err = signOMS(ctx, repo, m, signer, files); err != nil {
			return nil, fmt.Errorf("sign %s: OpenSSF model signature: %w", m.Ref, err)
		}
	}
	res := &SignResult{Reference: m.Ref.String(), Digest: m.Desc.Digest, Signature: desc, PredicateType: attest.CosignSignPredicate, OMS: omsDesc}
	res.describe(signer)
	return res, nil
}

// describe records who signed: a key's ID, or what a keyless signature's
// certificate says.
func (r *SignResult) describe(s attest.Signer) {
	if pub, err := s.PublicKey(); err == nil {
		r.KeyID = attest.KeyID(pub)
	}
	if k, ok := s.(*attest.KeylessSigner); ok {
		r.Identity, r.Issuer = k.Signed()
	}
}

// By names who signed, for records such as a promotion's.
func (r *SignResult) By() string {
	if r.Identity != "" {
		return r.Identity
	}
	return r.KeyID
}

// attach signs statement into a bundle and pushes it as a referrer of m.
func attach(ctx context.Context, repo Repository, m *Resolved, signer attest.Signer, statement []byte, predicateType string) (digest.Digest, error) {
	bundle, err := attest.SignStatement(ctx, signer, statement)
	if err != nil {
		return "", err
	}
	return attachBundle(ctx, repo, m, bundle, predicateType)
}

// attachBundle pushes a signed bundle as a referrer of m.
func attachBundle(ctx context.Context, repo Repository, m *Resolved, bundle []byte, predicateType string) (digest.Digest, error) {
	ref, err := attest.NewReferrer(m.Desc, bundle, predicateType, time.Now())
	if err != nil {
		return "", err
	}
	if _, err := repo.PushBlob(ctx, ref.ConfigDesc, bytesOpener(ref.ConfigDesc.Data)); err != nil {
		return "", err
	}
	if _, err := repo.PushBlob(ctx, ref.BundleDesc, bytesOpener(ref.Bundle)); err != nil {
		return "", err
	}
	if err := repo.PushManifest(ctx, ref.Desc, ref.Manifest, ""); err != nil {
		return "", err
	}
	return ref.Desc.Digest, nil
}
