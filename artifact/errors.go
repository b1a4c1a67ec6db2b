package artifact

import "errors"

// Sentinel errors of the user's own input. Content that is not what it
// claims, or is unsafe to write, fails with errdef's verification errors.
var (
	// ErrNotModel: the manifest is not something vessel can unpack as a model.
	ErrNotModel = errors.New("not a model artifact")
	// ErrNoMatch: the patterns of a partial pull select no file of the model.
	ErrNoMatch = errors.New("matched no file")
	// ErrUnsupportedFile: a file in the source directory cannot be packed.
	ErrUnsupportedFile = errors.New("unsupported file")
)
