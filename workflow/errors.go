package workflow

import "errors"

// ErrDestinationExists: the pull destination holds files and Force is
// off. Verification failures are errdef.ErrVerification.
var ErrDestinationExists = errors.New("destination exists and is not empty")
