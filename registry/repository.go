package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	oraserr "oras.land/oras-go/v2/errdef"
	orasregistry "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/iox"
)

// Caps on what a registry may send back.
const (
	// MaxManifestSize caps a manifest (the OCI distribution spec's
	// recommended minimum a registry must accept is 4 MiB).
	MaxManifestSize = 4 << 20
	// MaxReferrers caps the referrers examined for one artifact.
	MaxReferrers = 1000
)

// Options configure how a Repository reaches its registry. The zero value
// uses HTTPS with the system roots (plain HTTP on loopback hosts) and the
// Docker credential store.
type Options struct {
	// PlainHTTP uses http:// for any host. Loopback hosts use it too unless
	// CAFile or InsecureSkipTLSVerify is set.
	PlainHTTP bool
	// CAFile adds a PEM bundle of trusted roots for a private registry.
	CAFile string
	// InsecureSkipTLSVerify accepts any server certificate.
	InsecureSkipTLSVerify bool
	// Credentials looks up logins; nil means the Docker config and its
	// credential helpers (DOCKER_CONFIG or ~/.docker/config.json).
	Credentials credentials.Store
	// Client, if set, is the HTTP client for the registry (from NewClient
	// for its host), instead of a new one: a long-running server reuses
	// its connections and tokens across requests.
	Client *auth.Client
	// UserAgent is sent with every request.
	UserAgent string
	// CreateLayout creates an OCI layout directory that does not exist yet
	// (for pushes); otherwise a missing layout is an error.
	CreateLayout bool
	// ChunkSize > 0 uploads blobs larger than it in chunks of that size;
	// 0 uploads in one request and falls back to DefaultChunkSize chunks
	// when the registry refuses the size (HTTP 413).
	ChunkSize int64
	// UploadStateDir, when set, keeps a small file per blob there for each
	// chunked upload in progress (its session URL, which may carry a token:
	// 0600, never logged), so that a later push of the same blob to the same
	// repository resumes where the registry says the upload stopped. The
	// file goes once the blob is in. Empty keeps nothing; a chunk broken
	// mid-run is resumed either way.
	UploadStateDir string
	// Logger hears which upload method was used and why; nil discards.
	Logger *slog.Logger
	// MinRate (bytes per second; 0: DefaultMinRate, < 0: none) and
	// MinRateWindow (<= 0: DefaultMinRateWindow) are the low-speed limit:
	// a response that brings less than MinRate on average over a window is
	// given up on with ErrTooSlow (a download then resumes by range).
	MinRate       int64
	MinRateWindow time.Duration
}

// Target is what a Repository needs from its store: content, tags and the
// graph (referrers). oras-go's remote repository and OCI layout store both
// provide it.
type Target interface {
	oras.GraphTarget
	Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error)
}

var (
	_ Target = (*remote.Repository)(nil)
	_ Target = (*oci.Store)(nil)
)

// Repository is one repository of a registry, or one OCI layout, together
// with the reference that named it.
type Repository struct {
	Ref    Reference
	target Target
	opts   Options
}

// Reference is the reference that named the repository (Ref).
func (r *Repository) Reference() Reference { return r.Ref }

// Open connects to the repository ref names. A missing layout directory is
// an error unless opts.CreateLayout is set.
func Open(ctx context.Context, ref Reference, opts Options) (*Repository, error) {
	if ref.Archive {
		store, err := oci.NewFromTar(ctx, ref.Layout)
		if err != nil {
			return nil, fmt.Errorf("open OCI archive %s: %w", ref.Layout, err)
		}
		return &Repository{Ref: ref, target: readOnly{store}}, nil
	}
	if ref.IsLayout() {
		if _, err := os.Stat(filepath.Join(ref.Layout, ocispec.ImageLayoutFile)); err != nil && !opts.CreateLayout {
			return nil, fmt.Errorf("open OCI layout %s: %w", ref.Layout, err)
		}
		store, err := oci.NewWithContext(ctx, ref.Layout)
		if err != nil {
			return nil, fmt.Errorf("open OCI layout %s: %w", ref.Layout, err)
		}
		return &Repository{Ref: ref, target: store}, nil
	}
	client := opts.Client
	if client == nil {
		var err error
		if client, err = NewClient(ref.Registry, opts); err != nil {
			return nil, err
		}
	}
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrBadReference, ref, err)
	}
	repo.Client = client
	repo.PlainHTTP = opts.usePlainHTTP(ref.Registry)
	repo.MaxMetadataBytes = MaxManifestSize
	repo.ReferrerListMaxPages = 20
	// Where the referrers tag schema is used, each new referrer replaces
	// the tagged index and oras-go would then delete the old one; CNCF
	// Distribution refuses deletes by default (405), which would fail a
	// signature that was stored. Leave the untagged index, as cosign does.
	repo.SkipReferrersGC = true
	return &Repository{Ref: ref, target: repo, opts: opts}, nil
}

// usePlainHTTP: asked for, or a loopback host with no TLS option given
// (a CA file or skipping verification both say the registry speaks TLS).
func (o Options) usePlainHTTP(host string) bool {
	return o.PlainHTTP || (IsLoopback(host) && o.CAFile == "" && !o.InsecureSkipTLSVerify)
}

// NewClient returns an authenticating, retrying HTTP client for a registry host.
func NewClient(host string, opts Options) (*auth.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipTLSVerify} //nolint:gosec // opt-in, named Insecure.
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates found", opts.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsConf
	rate, window := opts.minRate()
	store := opts.Credentials
	if store == nil {
		var err error
		if store, err = DockerCredentials(); err != nil {
			return nil, err
		}
	}
	c := &auth.Client{
		Client:     &http.Client{Transport: retry.NewTransport(lowSpeed{base: base, rate: rate, window: window})},
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
		Header:     http.Header{},
	}
	if opts.UserAgent != "" {
		c.Header.Set("User-Agent", opts.UserAgent)
	}
	if IsLoopback(host) {
		// A local registry's token service is local too; oras-go blocks
		// loopback realms by default to stop a remote registry sending
		// tokens requests there.
		c.BlockedRealmPrefixes = []netip.Prefix{}
	}
	return c, nil
}

// DockerCredentials opens the Docker credential store (DOCKER_CONFIG or
// ~/.docker/config.json, with its credential helpers).
func DockerCredentials() (credentials.Store, error) {
	s, err := credentials.NewStoreFromDocker(credentials.StoreOptions{AllowPlaintextPut: true, DetectDefaultNativeStore: true})
	if err != nil {
		return nil, fmt.Errorf("open Docker credential store: %w", err)
	}
	return s, nil
}

// Pinned returns the same repository with its reference pinned to d.
func (r *Repository) Pinned(d digest.Digest) *Repository {
	return &Repository{Ref: r.Ref.WithDigest(d), target: r.target, opts: r.opts}
}

// Resolve looks up the reference's tag or digest once and returns the
// manifest descriptor; all later work should use its digest.
func (r *Repository) Resolve(ctx context.Context) (ocispec.Descriptor, error) {
	ref := r.Ref.Ref()
	if ref == "" {
		return ocispec.Descriptor{}, fmt.Errorf("%w %s: name a tag or a digest", ErrBadReference, r.Ref)
	}
	desc, err := r.lookup(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if r.Ref.Digest != "" && desc.Digest != r.Ref.Digest {
		return ocispec.Descriptor{}, fmt.Errorf("resolve %s: %w: registry answered %s", r.Ref, errdef.ErrDigestMismatch, desc.Digest)
	}
	return desc, nil
}

// ResolveTag looks up another tag of the repository (cosign's classic
// ".sig" and ".att" tags). A tag the registry says it does not have is
// errdef.ErrNotFound; any other failure (an outage, a refusal, a timeout)
// is returned as it is, so no caller mistakes it for "none".
func (r *Repository) ResolveTag(ctx context.Context, tag string) (ocispec.Descriptor, error) {
	return r.lookup(ctx, tag)
}

// lookup resolves a tag or digest of the repository: the registry's "no
// such manifest" is errdef.ErrNotFound, decided here and nowhere else.
func (r *Repository) lookup(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	desc, err := r.target.Resolve(ctx, ref)
	if errors.Is(err, oraserr.ErrNotFound) {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %s: %w", r.Ref, ref, errdef.ErrNotFound)
	}
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: resolve %s: %w", r.Ref, ref, err)
	}
	return desc, nil
}

// FetchManifest reads a manifest (or config, or any small blob) capped at
// MaxManifestSize and checked against desc's digest and size.
func (r *Repository) FetchManifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	return r.FetchCapped(ctx, desc, MaxManifestSize)
}

// FetchCapped reads a small blob whole, refusing one declared larger than
// limit before asking for it, and checks it against desc's digest and
// size. The limit is the parser's: the package that reads the bytes
// knows how large they may be.
func (r *Repository) FetchCapped(ctx context.Context, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size < 0 || desc.Size > limit {
		return nil, fmt.Errorf("fetch %s: %w: %d bytes (cap %d)", desc.Digest, errdef.ErrLimit, desc.Size, limit)
	}
	rc, err := r.target.Fetch(ctx, desc)
	if err != nil {
		return nil, fetchError(desc, err)
	}
	defer rc.Close()
	data, err := content.ReadAll(rc, desc)
	if err != nil {
		if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("fetch %s: %w: %v", desc.Digest, errdef.ErrDigestMismatch, err)
		}
		return nil, fmt.Errorf("fetch %s: %w", desc.Digest, err)
	}
	return data, nil
}

// FetchBlob opens a blob. The stream is not verified: callers check it as
// it arrives (errdef.VerifyReader).
func (r *Repository) FetchBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := r.target.Fetch(ctx, desc)
	if err != nil {
		return nil, fetchError(desc, err)
	}
	return rc, nil
}

// fetchError wraps a failed fetch of desc; the registry's "no such
// content" becomes errdef.ErrNotFound, decided here and nowhere else, and
// a response whose length is not the descriptor's is a size mismatch (a
// verification failure, like any other tampering).
func fetchError(desc ocispec.Descriptor, err error) error {
	switch {
	case errors.Is(err, oraserr.ErrNotFound):
		return fmt.Errorf("fetch %s: %w: %v", desc.Digest, errdef.ErrNotFound, err)
	case isLengthMismatch(err):
		return fmt.Errorf("fetch %s: %w: the registry sent a length other than the declared %d bytes (%v)", desc.Digest, errdef.ErrSizeMismatch, desc.Size, err)
	}
	return fmt.Errorf("fetch %s: %w", desc.Digest, err)
}

// isLengthMismatch recognises oras-go's check of Content-Length against
// the descriptor, which it reports as a plain error, not a sentinel.
func isLengthMismatch(err error) bool {
	return err != nil && strings.HasSuffix(err.Error(), "mismatch Content-Length")
}

// Exists reports whether the repository already has desc.
func (r *Repository) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	ok, err := r.target.Exists(ctx, desc)
	if err != nil {
		return false, fmt.Errorf("check %s: %w", desc.Digest, err)
	}
	return ok, nil
}

// PushBlob uploads a blob unless the repository has it already; it returns
// whether bytes were sent.
func (r *Repository) PushBlob(ctx context.Context, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) (bool, error) {
	if ok, err := r.Exists(ctx, desc); err != nil || ok {
		return false, err
	}
	var err error
	if remoteRepo, ok := r.target.(*remote.Repository); ok {
		err = r.pushRemoteBlob(ctx, remoteRepo, desc, open)
	} else {
		// A local store copies without looking at ctx: stop it on Ctrl-C.
		err = pushMonolithic(ctx, r.target, desc, func() (io.ReadCloser, error) {
			rc, err := open()
			if err != nil {
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{&iox.ContextReader{Ctx: ctx, R: rc}, rc}, nil
		})
	}
	if err != nil && !errors.Is(err, oraserr.ErrAlreadyExists) {
		return false, fmt.Errorf("upload %s: %w", desc.Digest, err)
	}
	return true, nil
}

// PushManifest uploads a manifest and, when tag is not empty, points tag at
// it. Callers push every blob first, so a tag never names an incomplete
// artifact; on a remote registry the manifest and tag go in one request.
func (r *Repository) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, tag string) error {
	exists, err := r.Exists(ctx, desc)
	if err != nil {
		return err
	}
	if rp, ok := r.target.(orasregistry.ReferencePusher); ok && tag != "" && !exists {
		if err := rp.PushReference(ctx, desc, bytes.NewReader(data), tag); err != nil {
			return fmt.Errorf("push manifest %s as %s: %w", desc.Digest, tag, err)
		}
		return nil
	}
	if !exists {
		if err := r.target.Push(ctx, desc, bytes.NewReader(data)); err != nil && !errors.Is(err, oraserr.ErrAlreadyExists) {
			return fmt.Errorf("push manifest %s: %w", desc.Digest, err)
		}
	}
	if tag != "" {
		if err := r.target.Tag(ctx, desc, tag); err != nil {
			return fmt.Errorf("tag %s as %s: %w", desc.Digest, tag, err)
		}
	}
	return nil
}

// Referrers lists the manifests whose subject is desc, through the referrers
// API or, where a registry lacks it, the referrers tag schema. At most
// MaxReferrers are returned; more is an error, not a silent truncation.
// The entries are the registry's word only: callers fetch and check each.
func (r *Repository) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	if lister, ok := r.target.(orasregistry.ReferrerLister); ok {
		err := lister.Referrers(ctx, desc, artifactType, func(page []ocispec.Descriptor) error {
			out = append(out, page...)
			if len(out) > MaxReferrers {
				return fmt.Errorf("%w: more than %d referrers", errdef.ErrLimit, MaxReferrers)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list referrers of %s: %w", desc.Digest, err)
		}
		return out, nil
	}
	out, err := orasregistry.Referrers(ctx, r.target, desc, artifactType)
	if err != nil {
		return nil, fmt.Errorf("list referrers of %s: %w", desc.Digest, err)
	}
	if len(out) > MaxReferrers {
		return nil, fmt.Errorf("list referrers of %s: %w: more than %d referrers", desc.Digest, errdef.ErrLimit, MaxReferrers)
	}
	return out, nil
}

// ErrReadOnly: the target cannot be written (an OCI archive).
var ErrReadOnly = errors.New("read-only: an oci-archive cannot be written (use vessel export)")

// readOnly makes a read-only store a Target whose writes fail.
type readOnly struct {
	*oci.ReadOnlyStore
}

func (readOnly) Push(context.Context, ocispec.Descriptor, io.Reader) error { return ErrReadOnly }
func (readOnly) Tag(context.Context, ocispec.Descriptor, string) error     { return ErrReadOnly }
