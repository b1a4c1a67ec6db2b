package attest

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
)

// KMSSchemes are the key URI schemes of the cloud and Vault key services
// sigstore's KMS providers sign with (see LoadKMS).
var KMSSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"}

// IsKMS reports whether ref names a key in a key service.
func IsKMS(ref string) bool {
	for _, s := range KMSSchemes {
		if strings.HasPrefix(ref, s) {
			return true
		}
	}
	return false
}

// LoadTrustedKey reads a trusted public key: a PEM file, or the public half
// of a key in a key service by its URI (as cosign's --key takes either).
// A service's key is fetched once and signatures are then checked here,
// not by the service.
func LoadTrustedKey(ctx context.Context, ref string) (signature.Verifier, error) {
	if IsKMS(ref) {
		s, err := LoadKMS(ctx, ref)
		if err != nil {
			return nil, err
		}
		pub, err := s.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrKey, ref, err)
		}
		v, err := signature.LoadDefaultVerifier(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrKey, ref, err)
		}
		return v, nil
	}
	pem, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrKey, ref, err)
	}
	v, err := LoadPublicKey(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return v, nil
}
