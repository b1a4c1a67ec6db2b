package workflow

import "github.com/opencontainers/go-digest"

// EventKind says what happened to a file.
type EventKind int

const (
	// EventPlan: the work is known; Size is the total bytes of all files.
	EventPlan EventKind = iota
	// EventStart: work on a file began; Size is its total.
	EventStart
	// EventBytes: Bytes more bytes of the file were hashed, sent or received.
	EventBytes
	// EventDone: the file is finished; Skipped if nothing had to be sent.
	EventDone
)

// Phase names the stage a file is in.
type Phase string

const (
	PhaseHash     Phase = "hash"
	PhaseUpload   Phase = "upload"
	PhaseDownload Phase = "download"
)

// Event reports progress on one file. Handlers are called from several
// goroutines at once and must be safe for that, and quick.
type Event struct {
	Kind    EventKind
	Phase   Phase
	Path    string
	Digest  digest.Digest
	Size    int64
	Bytes   int64
	Skipped bool
}

// ProgressFunc receives events; nil means nobody is listening.
type ProgressFunc func(Event)

func (f ProgressFunc) emit(e Event) {
	if f != nil {
		f(e)
	}
}

// bytes returns a callback that reports n bytes of one file, or nil.
func (f ProgressFunc) bytes(phase Phase, path string, d digest.Digest) func(int64) {
	if f == nil {
		return nil
	}
	return func(n int64) { f(Event{Kind: EventBytes, Phase: phase, Path: path, Digest: d, Bytes: n}) }
}

// File describes one file of a model in results.
type File struct {
	Path      string        `json:"path"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	MediaType string        `json:"mediaType"`
	// Sent is true when the bytes had to be transferred (push only).
	Sent bool `json:"sent,omitempty"`
	// Layer is the tar layer that carries the file, when it is not a
	// layer of its own (push only).
	Layer digest.Digest `json:"layer,omitempty"`
}
