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
	// ErrTooLarge: a directory has more files than one model can carry
	// (a manifest's layers or size, an OpenSSF signature's files). It is
	// the pusher's own input, not something received: not a verification
	// failure.
	ErrTooLarge = errors.New("too large for one model")
)
