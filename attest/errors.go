package attest

import "errors"

// The user's configuration errors. A signature that does not verify, or a
// policy not met, fails with errdef's verification errors.
var (
	// ErrKey: a key file cannot be read or used.
	ErrKey = errors.New("key")
	// ErrPolicyFile: a trust policy file is malformed.
	ErrPolicyFile = errors.New("trust policy")
	// ErrKeyless: a keyless signer was asked for a lasting key it has not.
	ErrKeyless = errors.New("keyless signer: no lasting public key")
	// ErrIdentityToken: no OIDC identity token for keyless signing.
	ErrIdentityToken = errors.New("identity token")
)
