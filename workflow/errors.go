package workflow

import "errors"

// Sentinel errors of the caller's own request. Verification failures are
// errdef.ErrVerification.
var (
	// ErrDestinationExists: the pull destination holds files and Force is
	// off.
	ErrDestinationExists = errors.New("destination exists and is not empty")
	// ErrNoTrust: a pull or copy was given no policy and was not told to
	// skip verification (InsecureSkipVerify).
	ErrNoTrust = errors.New("no trust policy (set one, or InsecureSkipVerify to check digests only)")
)
