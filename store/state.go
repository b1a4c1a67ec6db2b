package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/internal/fsx"
)

// state records which bytes of a partial blob are written: each segment
// [Off, End) holds Done bytes from Off. It is saved beside the partial
// file; Done is only ever what was written before the save, so a record
// never claims bytes that are not there (short of a crash of the machine,
// which the digest check catches).
type state struct {
	Digest   digest.Digest `json:"digest"`
	Size     int64         `json:"size"`
	Segments []segment     `json:"segments"`
}

type segment struct {
	Off  int64 `json:"off"`
	End  int64 `json:"end"`
	Done int64 `json:"done"`
}

// maxStateSize caps the record read back (a 1 TiB blob has 16384
// segments of about 50 bytes each).
const maxStateSize = 4 << 20

// newState starts a blob as one segment; a slow stream splits it later.
func newState(desc ocispec.Descriptor) *state {
	return &state{Digest: desc.Digest, Size: desc.Size, Segments: []segment{{Off: 0, End: desc.Size}}}
}

// loadState reads the record of a partial blob, or nil if there is none
// or it does not describe desc consistently (then the partial file is
// worthless: nothing says which of its bytes are real).
func loadState(partial string, desc ocispec.Descriptor) *state {
	f, err := fsx.OpenRegular(partial+".json", os.O_RDONLY, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	var st state
	dec := json.NewDecoder(&limited{f, maxStateSize})
	if err := dec.Decode(&st); err != nil || st.Digest != desc.Digest || st.Size != desc.Size {
		return nil
	}
	fi, err := os.Lstat(partial)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	var at int64
	for _, s := range st.Segments {
		if s.Off != at || s.End <= s.Off || s.Done < 0 || s.Done > s.End-s.Off || (s.Done > 0 && s.Off+s.Done > fi.Size()) {
			return nil
		}
		at = s.End
	}
	if at != desc.Size {
		return nil
	}
	return &st
}

// limited reads at most n bytes and then fails, so an oversized record is
// refused rather than truncated into something that parses.
type limited struct {
	f *os.File
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("progress record too large")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

func (st *state) encode() []byte {
	data, _ := json.Marshal(st) // plain structs: cannot fail
	return data
}

// reset forgets what was written: the blob comes again as one stream.
func (st *state) reset() {
	st.Segments = []segment{{Off: 0, End: st.Size}}
}

// missing lists the segments not yet complete, in order.
func (st *state) missing() []int {
	var out []int
	for i, s := range st.Segments {
		if s.Off+s.Done < s.End {
			out = append(out, i)
		}
	}
	return out
}

// present is how many bytes are written.
func (st *state) present() int64 {
	var n int64
	for _, s := range st.Segments {
		n += s.Done
	}
	return n
}

// frontier is the end of the written prefix: every byte before it is there.
func (st *state) frontier() int64 {
	for _, s := range st.Segments {
		if s.Off+s.Done < s.End {
			return s.Off + s.Done
		}
	}
	return st.Size
}

// lock takes an exclusive lock on the file name, waiting (and polling
// ctx) while another process holds it.
func lock(ctx context.Context, name string) (unlock func(), err error) {
	for {
		unlock, ok, err := tryLock(name)
		if err != nil || ok {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tryLock takes the lock file name if no one holds it. unlock removes the
// file, so none are left behind; a lock taken on a file that was removed
// meanwhile is therefore worthless, and is dropped (the caller tries again).
func tryLock(name string) (unlock func(), ok bool, err error) {
	f, err := fsx.OpenRegular(name, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, fsx.ErrNotRegular) {
		os.Remove(name) // planted (a link, say): never written through
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if ok, err := fsx.TryLock(f); !ok {
		f.Close()
		return nil, false, err
	}
	if !fsx.Names(name, f) {
		f.Close()
		return nil, false, nil
	}
	return func() { os.Remove(name); f.Close() }, true, nil
}
