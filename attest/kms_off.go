//go:build !kms

package attest

import (
	"context"
	"fmt"
)

// LoadKMS: the default build has no KMS providers (their SDKs would add
// about 12 MB to every vessel binary and test).
func LoadKMS(_ context.Context, ref string) (*KeySigner, error) {
	return nil, fmt.Errorf("%w: %s: this vessel was built without KMS providers: build it with `make build-full` (go build -tags kms,pkcs11key)", ErrKey, ref)
}
