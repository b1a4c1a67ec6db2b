package workflow

import (
	"errors"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/oms"
	"github.com/vessel-oci/vessel/registry"
)

var (
	// ErrDestinationExists: the pull destination holds files and Force is off.
	ErrDestinationExists = errors.New("destination exists and is not empty")
)

// verificationErrors are the failures that mean "this content is not what
// it claims, or is unsafe", as opposed to a typo or an outage.
var verificationErrors = []error{
	artifact.ErrUnsafePath,
	artifact.ErrDigestMismatch,
	artifact.ErrSizeMismatch,
	artifact.ErrLimit,
	artifact.ErrUnsupportedEntry,
	registry.ErrDigestMismatch,
	registry.ErrTooLarge,
	attest.ErrBadSignature,
	attest.ErrSubjectMismatch,
	attest.ErrUntrusted,
	oms.ErrMismatch,
	oms.ErrBadBundle,
}

// IsVerificationError reports whether err means verification failed (the
// CLI's exit code 3), as opposed to any other failure.
func IsVerificationError(err error) bool {
	for _, target := range verificationErrors {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
