package attest

import "errors"

// Every error here is a verification failure except ErrKey and ErrPolicyFile,
// which are the user's configuration.
var (
	// ErrBadSignature: a signature or bundle is malformed or does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrSubjectMismatch: a signature is over a different artifact.
	ErrSubjectMismatch = errors.New("signature subject mismatch")
	// ErrUntrusted: the policy's trust requirements are not met.
	ErrUntrusted = errors.New("not trusted")
	// ErrKey: a key file cannot be read or used.
	ErrKey = errors.New("key")
	// ErrPolicyFile: a trust policy file is malformed.
	ErrPolicyFile = errors.New("trust policy")
)
