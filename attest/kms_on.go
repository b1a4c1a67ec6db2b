//go:build kms

package attest

import (
	"context"
	"crypto"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature/kms"
	// The KMS providers vessel signs with; each registers its URI scheme.
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)

// LoadKMS opens a signing key that stays in a key service, by its URI
// (awskms://, gcpkms://, azurekms://, hashivault://), through sigstore's
// KMS providers; credentials come from each provider's usual environment
// (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_*, VAULT_ADDR and
// VAULT_TOKEN). The providers bring the clouds' SDKs (about 12 MB), so
// they are in vessel built with the kms tag (make build-full) only.
func LoadKMS(ctx context.Context, ref string) (*KeySigner, error) {
	sv, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, ref, err)
	}
	pub, err := sv.PublicKey()
	if err == nil {
		err = checkKeyType(pub)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, ref, err)
	}
	return &KeySigner{sv}, nil
}
