package registry

import "errors"

var (
	// ErrNotFound: the reference names nothing in the repository.
	ErrNotFound = errors.New("not found")
	// ErrBadReference: a reference string cannot be parsed.
	ErrBadReference = errors.New("invalid reference")
	// ErrTooLarge (verification): a manifest or list from the registry exceeds its cap.
	ErrTooLarge = errors.New("too large")
	// ErrDigestMismatch (verification): fetched bytes do not match their digest.
	ErrDigestMismatch = errors.New("digest mismatch")
)
