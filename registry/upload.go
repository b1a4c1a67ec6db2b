package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// DefaultChunkSize is the chunk size used when a registry refuses a blob
// in one request and no ChunkSize was set.
const DefaultChunkSize = 64 << 20

// pushRemoteBlob uploads a blob monolithically (one PUT), or in chunks when
// Options.ChunkSize asks for it, falling back from one to the other when
// the registry refuses: some cap request sizes (HTTP 413), some do not
// implement chunked uploads.
func (r *Repository) pushRemoteBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	log := r.opts.logger()
	chunk := r.opts.ChunkSize
	if chunk > 0 && desc.Size > chunk {
		err := r.pushChunked(ctx, repo, desc, open, chunk)
		if err == nil {
			log.Info("uploaded in chunks", "digest", desc.Digest, "size", desc.Size, "chunk", chunk)
			return nil
		}
		if !refusesChunks(err) {
			return err
		}
		log.Info("registry refused a chunked upload; sending the blob in one request", "digest", desc.Digest, "error", err)
	}
	err := pushMonolithic(ctx, repo, desc, open)
	if err == nil {
		log.Info("uploaded in one request", "digest", desc.Digest, "size", desc.Size)
		r.dropState(r.statePath(repo, desc)) // a session left by a chunked try is moot
		return nil
	}
	if !tooLarge(err) {
		return err
	}
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	log.Info("registry refused the blob in one request; uploading in chunks", "digest", desc.Digest, "chunk", chunk)
	return r.pushChunked(ctx, repo, desc, open, chunk)
}

func pushMonolithic(ctx context.Context, dst interface {
	Push(context.Context, ocispec.Descriptor, io.Reader) error
}, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return dst.Push(ctx, desc, rc)
}

// pushChunked implements the distribution spec's chunked upload: POST to
// open a session, one PATCH per chunk with its Content-Range, then a PUT
// with the digest. Written here because oras-go only uploads monolithically.
// A chunk lost to the network or a 5xx is resumed where the registry says
// the session stands; a registry that cannot say gets one fresh start.
func (r *Repository) pushChunked(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, open func() (io.ReadCloser, error), chunk int64) error {
	log := r.opts.logger()
	ctx = auth.AppendRepositoryScope(ctx, repo.Reference, auth.ActionPull, auth.ActionPush)
	scheme := "https"
	if repo.PlainHTTP {
		scheme = "http"
	}
	start, err := url.Parse(fmt.Sprintf("%s://%s/v2/%s/blobs/uploads/", scheme, repo.Reference.Host(), repo.Reference.Repository))
	if err != nil {
		return err
	}
	st := r.statePath(repo, desc)
	s := r.resumeSaved(ctx, repo, start, desc, st)
	if s == nil {
		if s, err = r.startUpload(ctx, repo, start); err != nil {
			return err
		}
	}
	restarted := false
	for fails := 0; ; {
		before := s.off
		err := r.sendChunks(ctx, repo, desc, open, chunk, s, st)
		if err == nil {
			return nil
		}
		mismatch := s.resumed && rangeMismatch(err)
		if ctx.Err() != nil || !(retryable(err) || mismatch) {
			return err
		}
		if s.off > before {
			fails = 0
		}
		if fails++; fails > maxUploadRetries {
			return fmt.Errorf("upload %s: gave up after %d retries: %w", desc.Digest, maxUploadRetries, err)
		}
		log.Info("chunk failed; asking the registry where the upload stands", "digest", desc.Digest, "offset", s.off, "error", err)
		if err := sleep(ctx, retryBackoff<<(fails-1)); err != nil {
			return err
		}
		var serr error = errRangeMismatch
		if !mismatch {
			var ns *session
			if ns, serr = r.uploadStatus(ctx, repo, s.loc, desc.Size); serr == nil {
				s = ns
				log.Info("resumed upload at offset", "digest", desc.Digest, "offset", s.off, "size", desc.Size)
				continue
			}
		}
		if restarted {
			return fmt.Errorf("upload %s: %w (upload status: %v)", desc.Digest, err, serr)
		}
		restarted = true
		log.Info("cannot resume the upload; starting it over", "digest", desc.Digest, "reason", serr)
		// A PUT that failed on the way back may have landed.
		if ok, _ := repo.Exists(ctx, desc); ok {
			r.dropState(st)
			return nil
		}
		if s, err = r.startUpload(ctx, repo, start); err != nil {
			return err
		}
	}
}

// session is where a chunked upload stands: the URL for its next request
// and the bytes the registry holds.
type session struct {
	loc     *url.URL
	off     int64
	resumed bool // off came from the registry's status, not from us
}

func (r *Repository) startUpload(ctx context.Context, repo *remote.Repository, start *url.URL) (*session, error) {
	resp, err := r.send(ctx, repo, http.MethodPost, start, nil, 0, nil, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	loc, err := nextLocation(start, resp)
	if err != nil {
		return nil, err
	}
	return &session{loc: loc}, nil
}

// sendChunks sends desc from s.off on, then closes the upload, advancing s
// and the state file st with every chunk the registry accepts.
func (r *Repository) sendChunks(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, open func() (io.ReadCloser, error), chunk int64, s *session, st string) error {
	rc, err := openAt(open, s.off)
	if err != nil {
		return err
	}
	defer rc.Close()
	for s.off < desc.Size {
		n := min(chunk, desc.Size-s.off)
		hdr := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", s.off, s.off+n-1)},
		}
		resp, err := r.send(ctx, repo, http.MethodPatch, s.loc, io.LimitReader(rc, n), n, hdr, http.StatusAccepted)
		if err != nil {
			return fmt.Errorf("upload %s: chunk at %d: %w", desc.Digest, s.off, err)
		}
		loc, err := nextLocation(s.loc, resp)
		if err != nil {
			return err
		}
		s.loc, s.off, s.resumed = loc, s.off+n, false
		r.saveState(st, repo, desc, s.loc)
	}
	loc := *s.loc
	q := loc.Query()
	q.Set("digest", desc.Digest.String())
	loc.RawQuery = q.Encode()
	if _, err := r.send(ctx, repo, http.MethodPut, &loc, nil, 0, nil, http.StatusCreated); err != nil {
		return fmt.Errorf("upload %s: close: %w", desc.Digest, err)
	}
	r.dropState(st)
	return nil
}

// send makes one request and checks its status; the body is drained.
func (r *Repository) send(ctx context.Context, repo *remote.Repository, method string, u *url.URL, body io.Reader, size int64, hdr http.Header, want int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.ContentLength = size
	if body == nil {
		req.Body = http.NoBody
	}
	resp, err := repo.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = &url.Error{Op: ue.Op, URL: redact(u), Err: ue.Err}
		}
		return nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return nil, &StatusError{Method: method, Status: resp.StatusCode}
	}
	return resp, nil
}

// redact hides an upload session's id and query, which may be a token,
// from errors that end up in logs.
func redact(u *url.URL) string {
	p, _, _ := strings.Cut(u.Path, "/blobs/uploads/")
	return u.Scheme + "://" + u.Host + p + "/blobs/uploads/<session>"
}

// nextLocation reads the upload URL a response points to.
func nextLocation(base *url.URL, resp *http.Response) (*url.URL, error) {
	return checkLocation(base, resp.Header.Get("Location"))
}

// checkLocation resolves an upload URL against base, refusing one on
// another host or one that downgrades https (credentials go with it).
func checkLocation(base *url.URL, loc string) (*url.URL, error) {
	if loc == "" {
		return nil, fmt.Errorf("upload: registry sent no Location")
	}
	u, err := base.Parse(loc)
	if err != nil {
		return nil, errors.New("upload: unparsable Location") // not quoted: it may carry a token
	}
	if u.Host != base.Host {
		return nil, fmt.Errorf("upload: Location %q is on another host than %q", u.Host, base.Host)
	}
	if base.Scheme == "https" && u.Scheme != "https" {
		return nil, fmt.Errorf("upload: Location on %s downgrades https", u.Host)
	}
	return u, nil
}

// StatusError is an unexpected HTTP status in a chunked upload.
type StatusError struct {
	Method string
	Status int
}

func (e *StatusError) Error() string {
	return e.Method + ": unexpected status " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
}

// refusesChunks: the registry does not do chunked uploads.
func refusesChunks(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Status {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusBadRequest, http.StatusRequestedRangeNotSatisfiable:
			return true
		}
	}
	return false
}

// tooLarge: the registry (or a proxy in front of it) refused the size.
func tooLarge(err error) bool {
	var er *errcode.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == http.StatusRequestEntityTooLarge
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}
