package admission

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

// Cache defaults: a verdict is reused for this long, for this many models.
const (
	DefaultCacheSize = 1024
	DefaultCacheTTL  = 10 * time.Minute
)

// Checker decides whether a model reference may be mounted: it resolves
// the reference to a manifest digest and verifies the model there against
// the policy, as `vessel verify` does (signatures on the manifest; an
// OpenSSF model signature must list the manifest's files).
type Checker struct {
	Policy   *attest.Policy
	Registry registry.Options
	// Only verified verdicts are cached, by repository and digest: a tag
	// is always looked up again, and a refusal is always decided again.
	cache *expirable.LRU[string, Verdict]
	// One client per registry host, so checks share connections and
	// tokens; made again after clientTTL, so rotated credentials (a
	// remounted pull secret) are read.
	clients *expirable.LRU[string, *auth.Client]
}

// clientTTL is how long a registry client (and the credentials it read)
// is reused.
const clientTTL = 10 * time.Minute

// Verdict is a verified model: its pinned reference and who signed it.
type Verdict struct {
	Digest  digest.Digest
	Signers []string
	Cached  bool
}

// NewChecker returns a checker caching up to size verdicts for ttl
// (<= 0: the defaults).
func NewChecker(policy *attest.Policy, opts registry.Options, size int, ttl time.Duration) *Checker {
	if size <= 0 {
		size = DefaultCacheSize
	}
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &Checker{Policy: policy, Registry: opts,
		cache:   expirable.NewLRU[string, Verdict](size, nil, ttl),
		clients: expirable.NewLRU[string, *auth.Client](256, nil, clientTTL),
	}
}

// ErrRefused matches every reason a model is not admitted (as opposed to
// a failure to find out: a registry that does not answer).
var ErrRefused = errors.New("refused")

// refused is a reason, said as it is, that matches ErrRefused.
type refused struct{ error }

func (r refused) Is(target error) bool { return target == ErrRefused }
func (r refused) Unwrap() error        { return r.error }

// Check verifies the model ref names. A refusal wraps ErrRefused; any
// other error means the check could not be made.
func (c *Checker) Check(ctx context.Context, ref string) (Verdict, error) {
	r, err := ParseImageReference(ref)
	if err != nil {
		return Verdict{}, refused{err}
	}
	opts := c.Registry
	if opts.Client, err = c.client(r.Registry); err != nil {
		return Verdict{}, err
	}
	repo, err := registry.Open(ctx, r, opts)
	if err != nil {
		return Verdict{}, err
	}
	if v, ok := c.cached(r, r.Digest); ok {
		return v, nil
	}
	m, err := workflow.Resolve(ctx, repo, artifact.Limits{})
	if err != nil {
		return Verdict{}, refusal(err)
	}
	if v, ok := c.cached(r, m.Desc.Digest); ok {
		return v, nil
	}
	v, err := workflow.VerifyResolved(ctx, repo.Pinned(m.Desc.Digest), m, c.Policy)
	if err != nil {
		return Verdict{}, refusal(err)
	}
	verdict := Verdict{Digest: m.Desc.Digest, Signers: v.Signers}
	c.cache.Add(cacheKey(r, m.Desc.Digest), verdict)
	return verdict, nil
}

// cached is the verdict remembered for r's repository at d, if any.
func (c *Checker) cached(r registry.Reference, d digest.Digest) (Verdict, bool) {
	if d == "" {
		return Verdict{}, false
	}
	v, ok := c.cache.Get(cacheKey(r, d))
	v.Cached = ok
	return v, ok
}

// client is the registry client for host, made once per clientTTL.
func (c *Checker) client(host string) (*auth.Client, error) {
	if cl, ok := c.clients.Get(host); ok {
		return cl, nil
	}
	cl, err := registry.NewClient(host, c.Registry)
	if err != nil {
		return nil, err
	}
	c.clients.Add(host, cl)
	return cl, nil
}

func cacheKey(r registry.Reference, d digest.Digest) string {
	return r.Registry + "/" + r.Repository + "@" + d.String()
}

// refusal marks the errors that are answers about the model (it is not
// there, not a model, not trusted) as refusals; the rest (a registry that
// cannot be reached) stay errors.
func refusal(err error) error {
	switch {
	case errors.Is(err, errdef.ErrVerification), errors.Is(err, errdef.ErrNotFound),
		errors.Is(err, artifact.ErrNotModel), errors.Is(err, workflow.ErrNoTrust):
		return refused{err}
	}
	return err
}

// ParseImageReference reads a reference as Kubernetes does: a name without
// a registry is Docker Hub's, a name without a tag or digest is :latest.
// (go-containerregistry's parser applies the same rules the kubelet's
// does.)
func ParseImageReference(s string) (registry.Reference, error) {
	if strings.Contains(s, "://") {
		return registry.Reference{}, fmt.Errorf("%w %q: an image reference has no scheme", registry.ErrBadReference, s)
	}
	ref, err := name.ParseReference(s)
	if err != nil {
		return registry.Reference{}, fmt.Errorf("%w %q: %v", registry.ErrBadReference, s, err)
	}
	r := registry.Reference{Registry: ref.Context().RegistryStr(), Repository: ref.Context().RepositoryStr()}
	switch ref := ref.(type) {
	case name.Digest:
		d, err := digest.Parse(ref.DigestStr())
		if err != nil {
			return registry.Reference{}, fmt.Errorf("%w %q: %v", registry.ErrBadReference, s, err)
		}
		r.Digest = d
	case name.Tag:
		r.Tag = ref.TagStr()
	}
	return r, nil
}

// Pin writes ref pinned to d: the name as written, without its tag, at
// the digest.
func Pin(ref string, d digest.Digest) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref + "@" + d.String()
}
