package oms

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. A signature that does not verify wraps
// attest.ErrBadSignature, a signer that is not trusted attest.ErrUntrusted.
var (
	// ErrBadBundle: the bundle or the statement it carries is malformed, is
	// not an OMS signature, or is inconsistent (its root digest does not
	// match its resources).
	ErrBadBundle = errors.New("bad OMS bundle")
	// ErrMismatch: the model is not what was signed: a file differs, is
	// missing, or is present but unsigned, or it holds a symbolic link or
	// special file that the signature does not allow.
	ErrMismatch = errors.New("model does not match its signature")
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
// ErrMismatch.
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
	return ErrMismatch.Error() + ": " + strings.Join(parts, "; ")
}

func (e *MismatchError) Unwrap() error { return ErrMismatch }
