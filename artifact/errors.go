package artifact

import "errors"

// Sentinel errors. Those marked "verification" mean the content is not what it
// claims to be, or is unsafe to write; callers map them to a distinct exit code.
var (
	// ErrUnsafePath (verification): a path is absolute, escapes the root,
	// is empty, has a NUL, is too long, or collides with another path.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrDigestMismatch (verification): bytes do not hash to their descriptor.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch (verification): bytes are longer or shorter than declared.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrLimit (verification): something from outside exceeds a safety cap.
	ErrLimit = errors.New("limit exceeded")
	// ErrUnsupportedEntry (verification): a tar layer holds a link, device or other non-regular entry.
	ErrUnsupportedEntry = errors.New("unsupported entry")
	// ErrNotModel: the manifest is not something vessel can unpack as a model.
	ErrNotModel = errors.New("not a model artifact")
	// ErrNoMatch: the patterns of a partial pull select no file of the model.
	ErrNoMatch = errors.New("matched no file")
	// ErrUnsupportedFile: a file in the source directory cannot be packed.
	ErrUnsupportedFile = errors.New("unsupported file")
)
