package registry

import "errors"

var (
	// ErrBadReference: a reference string cannot be parsed.
	ErrBadReference = errors.New("invalid reference")
)
