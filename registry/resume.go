package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/vessel-oci/vessel/internal/fsx"
)

const (
	// maxUploadRetries bounds the resumes of one blob in a row without a
	// chunk accepted in between.
	maxUploadRetries = 5
	retryBackoff     = 250 * time.Millisecond
	// maxStateFile caps a saved session file; ours are a few hundred bytes.
	maxStateFile = 16 << 10
)

var errRangeMismatch = errors.New("registry refused the offset it reported")

// uploadStatus asks the registry where an upload session stands (GET on
// its URL: 204 with Range 0-<last> and the URL to continue at).
func (r *Repository) uploadStatus(ctx context.Context, repo *remote.Repository, loc *url.URL, size int64) (*session, error) {
	resp, err := r.send(ctx, repo, http.MethodGet, loc, nil, 0, nil, http.StatusNoContent)
	if err != nil {
		return nil, err
	}
	off, err := parseRange(resp.Header.Get("Range"))
	if err != nil {
		return nil, err
	}
	if off > size {
		return nil, fmt.Errorf("upload status: registry holds %d bytes of a %d-byte blob", off, size)
	}
	next, err := nextLocation(loc, resp)
	if err != nil {
		return nil, err
	}
	return &session{loc: next, off: off, resumed: true}, nil
}

// parseRange reads "0-<last>" (inclusive) as the bytes held. olareg says
// "0--1" for none.
func parseRange(h string) (int64, error) {
	last, ok := strings.CutPrefix(strings.TrimPrefix(h, "bytes="), "0-")
	n, err := strconv.ParseInt(last, 10, 64)
	if !ok || err != nil || n < -1 || n == math.MaxInt64 {
		return 0, fmt.Errorf("upload status: bad Range %q", h)
	}
	return n + 1, nil
}

// retryable: the request may have died on the way (the connection, a
// timeout, the server's side), so the session may still be good.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status >= 500 || se.Status == http.StatusRequestTimeout || se.Status == http.StatusTooManyRequests
	}
	var ue *url.Error // what http.Client.Do returns for transport failures
	return errors.As(err, &ue)
}

// rangeMismatch: the registry refused a Content-Range, so its idea of the
// offset is not ours (registries differ on what "Range: 0-0" means).
func rangeMismatch(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == http.StatusRequestedRangeNotSatisfiable
}

// openAt opens the source positioned at off: seeking when it can,
// otherwise reading past the first off bytes.
func openAt(open func() (io.ReadCloser, error), off int64) (io.ReadCloser, error) {
	rc, err := open()
	if err != nil || off == 0 {
		return rc, err
	}
	if sk, ok := rc.(io.Seeker); ok {
		_, err = sk.Seek(off, io.SeekStart)
	} else {
		_, err = io.CopyN(io.Discard, rc, off)
	}
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("skip to offset %d: %w", off, err)
	}
	return rc, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// uploadState is the file saved per blob and repository so a later run can
// resume. Location may carry a session token: it is never logged.
type uploadState struct {
	Registry   string        `json:"registry"`
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Size       int64         `json:"size"`
	Location   string        `json:"location"`
}

// statePath names the state file of desc in repo; "" when state is off.
func (r *Repository) statePath(repo *remote.Repository, desc ocispec.Descriptor) string {
	if r.opts.UploadStateDir == "" {
		return ""
	}
	key := sha256.Sum256([]byte(repo.Reference.Host() + "/" + repo.Reference.Repository + "@" + desc.Digest.String()))
	return filepath.Join(r.opts.UploadStateDir, hex.EncodeToString(key[:])+".json")
}

// resumeSaved returns the session a previous run left at path if the
// registry still has it, or nil to start fresh. A file that names another
// blob, repository or host is dropped unused: credentials go only to the
// registry being pushed to.
func (r *Repository) resumeSaved(ctx context.Context, repo *remote.Repository, start *url.URL, desc ocispec.Descriptor, path string) *session {
	if path == "" {
		return nil
	}
	log := r.opts.logger()
	f, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("cannot read saved upload state", "digest", desc.Digest, "error", err)
		}
		return nil
	}
	var st uploadState
	err = json.NewDecoder(io.LimitReader(f, maxStateFile)).Decode(&st)
	f.Close()
	var loc *url.URL
	switch {
	case err != nil:
	case st.Registry != repo.Reference.Host() || st.Repository != repo.Reference.Repository || st.Digest != desc.Digest || st.Size != desc.Size:
		err = errors.New("it is for another blob or repository")
	default:
		loc, err = checkLocation(start, st.Location)
	}
	var s *session
	if err == nil {
		s, err = r.uploadStatus(ctx, repo, loc, desc.Size)
	}
	if err != nil {
		log.Info("not resuming the saved upload; starting fresh", "digest", desc.Digest, "reason", err)
		r.dropState(path)
		return nil
	}
	log.Info("resumed upload at offset", "digest", desc.Digest, "offset", s.off, "size", desc.Size, "from", "saved session")
	return s
}

// saveState records an upload's URL after an accepted chunk, atomically
// and readable by the owner only. A failure costs only the resume.
func (r *Repository) saveState(path string, repo *remote.Repository, desc ocispec.Descriptor, loc *url.URL) {
	if path == "" {
		return
	}
	data, err := json.Marshal(uploadState{
		Registry:   repo.Reference.Host(),
		Repository: repo.Reference.Repository,
		Digest:     desc.Digest,
		Size:       desc.Size,
		Location:   loc.String(),
	})
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o700)
	}
	if err == nil {
		err = fsx.WriteFile(path, data, 0o600, fsx.Replaceable)
	}
	if err != nil {
		r.opts.logger().Warn("cannot save upload state", "digest", desc.Digest, "error", err)
	}
}

func (r *Repository) dropState(path string) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.opts.logger().Warn("cannot remove upload state", "path", path, "error", err)
	}
}
