package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// FetchRange opens n bytes of a blob from offset off (n < 0: to the end).
// ranged is false when the source ignored the range: the reader then
// holds the whole blob from offset 0. Like FetchBlob, the bytes are not
// verified; the caller checks the blob's digest once it has all of it.
//
// Written here because oras-go can seek a fetched blob only after a first
// request for all of it (a resumed or split download wants the range in
// the first request), and its reader may not be closed while being read,
// which is how a download that went quiet is given up.
func (r *Repository) FetchRange(ctx context.Context, desc ocispec.Descriptor, off, n int64) (rc io.ReadCloser, ranged bool, err error) {
	whole := off == 0 && (n < 0 || n >= desc.Size)
	repo, remoteRepo := r.target.(*remote.Repository)
	if !remoteRepo {
		rc, err := r.FetchBlob(ctx, desc)
		if err != nil || whole {
			return rc, true, err
		}
		return seekTo(rc, off)
	}
	ctx = auth.AppendRepositoryScope(ctx, repo.Reference, auth.ActionPull)
	scheme := "https"
	if repo.PlainHTTP {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: repo.Reference.Host(), Path: fmt.Sprintf("/v2/%s/blobs/%s", repo.Reference.Repository, desc.Digest)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, err
	}
	if !whole {
		last := desc.Size - 1
		if n >= 0 {
			last = min(last, off+n-1)
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, last))
	}
	resp, err := repo.Client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("fetch %s at %d: %w", desc.Digest, off, err)
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != off {
			resp.Body.Close()
			return nil, false, fmt.Errorf("fetch %s at %d: registry answered range %q", desc.Digest, off, resp.Header.Get("Content-Range"))
		}
		return resp.Body, true, nil
	case http.StatusOK:
		return resp.Body, whole, nil
	default:
		resp.Body.Close()
		return nil, false, fmt.Errorf("fetch %s at %d: %w", desc.Digest, off, &StatusError{Method: http.MethodGet, Status: resp.StatusCode})
	}
}

// seekTo moves a fetched blob (an OCI layout's file) to off, or reports
// that it could not.
func seekTo(rc io.ReadCloser, off int64) (io.ReadCloser, bool, error) {
	s, ok := rc.(io.Seeker)
	if !ok {
		return rc, false, nil
	}
	if _, err := s.Seek(off, io.SeekStart); err != nil {
		rc.Close()
		return nil, false, err
	}
	return rc, true, nil
}

// rangeStart parses the first offset of "bytes START-END/SIZE".
func rangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(start, 10, 64)
	return v, err == nil
}
