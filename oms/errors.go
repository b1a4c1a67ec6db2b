package oms

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vessel-oci/vessel/errdef"
)

// Sentinel errors of requests vessel cannot do. A bundle that is malformed
// or does not verify, an untrusted signer and a model that differs from
// its signature fail with errdef's verification errors.
var (
	// ErrUnsupported: a valid request vessel does not do (a hash or key
	// type, or a combination of options).
	ErrUnsupported = errors.New("unsupported")
	// ErrRefused: a file that cannot be signed: a symbolic link (unless
	// allowed), a special file, or a name that is not UTF-8.
	ErrRefused = errors.New("refused file")
	// ErrEmptyModel: nothing to sign once exclusions are applied.
	ErrEmptyModel = errors.New("model has no files to sign")
)

// MismatchError lists how a model differs from its signature. It wraps
// errdef.ErrModelMismatch.
type MismatchError struct {
	// Missing are signed files that are not in the model.
	Missing []string
	// Unsigned are files in the model that the signature does not list.
	Unsigned []string
	// Changed are signed files whose content differs ("name: got X, want Y").
	Changed []string
}

func (e *MismatchError) Error() string {
	var parts []string
	add := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		const show = 5
		list := names
		more := ""
		if len(list) > show {
			list, more = list[:show], fmt.Sprintf(", and %d more", len(names)-show)
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s%s)", len(names), what, strings.Join(list, ", "), more))
	}
	add("missing", e.Missing)
	add("unsigned", e.Unsigned)
	add("changed", e.Changed)
	return errdef.ErrModelMismatch.Error() + ": " + strings.Join(parts, "; ")
}

func (e *MismatchError) Unwrap() error { return errdef.ErrModelMismatch }
