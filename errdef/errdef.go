// Package errdef is vessel's error vocabulary, shared by every package:
// the sentinel errors callers match with errors.Is, and the reader that
// checks untrusted bytes against their descriptor.
//
// Every way verification can fail (content that is not what it claims to
// be, is unsafe to write, or is not trusted) wraps ErrVerification, so
// "verification failed" (the CLI's exit code 3) is one errors.Is, and a
// new failure made from these sentinels in any package cannot become an
// ordinary error by being left off a list.
package errdef

import "errors"

// ErrVerification is wrapped by every verification failure.
var ErrVerification = errors.New("verification failed")

// Verification failures: each wraps ErrVerification.
var (
	// ErrDigestMismatch: bytes do not hash to their descriptor, or a
	// registry answered a digest other than the one asked for.
	ErrDigestMismatch = verification("digest mismatch")
	// ErrSizeMismatch: bytes are longer or shorter than declared.
	ErrSizeMismatch = verification("size mismatch")
	// ErrLimit: something from outside exceeds a safety cap (a manifest's
	// size, the number of referrers, layers or files, a bundle's size).
	ErrLimit = verification("limit exceeded")
	// ErrUnsafePath: a path is absolute, escapes the root, is empty, has a
	// NUL, is too long, or collides with another path.
	ErrUnsafePath = verification("unsafe path")
	// ErrUnsupportedEntry: a tar layer holds a link, device or other
	// non-regular entry.
	ErrUnsupportedEntry = verification("unsupported entry")
	// ErrBadSignature: a signature or bundle is malformed or does not
	// verify.
	ErrBadSignature = verification("bad signature")
	// ErrSubjectMismatch: a signature is over a different artifact.
	ErrSubjectMismatch = verification("signature subject mismatch")
	// ErrUntrusted: the policy's trust requirements are not met.
	ErrUntrusted = verification("not trusted")
	// ErrBadBundle: an OpenSSF Model Signing bundle, or the statement it
	// carries, is malformed, not an OMS signature, or inconsistent.
	ErrBadBundle = verification("bad OMS bundle")
	// ErrModelMismatch: the model's files are not what was signed (a file
	// differs, is missing, or is present but unsigned).
	ErrModelMismatch = verification("model does not match its signature")
)

// ErrNotFound: the registry (or layout) has nothing under the name asked
// for. Only the registry layer decides it, from a 404 or a missing entry;
// any other failure to look something up is an error of its own.
var ErrNotFound = errors.New("not found")

// verificationError is a sentinel that wraps ErrVerification.
type verificationError struct{ msg string }

func (e *verificationError) Error() string { return e.msg }
func (e *verificationError) Unwrap() error { return ErrVerification }

func verification(msg string) error { return &verificationError{msg: msg} }
