package registry

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	orasregistry "oras.land/oras-go/v2/registry"
)

// LayoutPrefix marks a reference to a local OCI image layout directory,
// ArchivePrefix one to an OCI image layout in a tar file (read-only).
const (
	LayoutPrefix  = "oci:"
	ArchivePrefix = "oci-archive:"
)

// Reference names an artifact in a remote repository or a local OCI layout.
// At most one of Tag and Digest is set.
type Reference struct {
	// Registry is "host[:port]" for a remote reference, empty for a layout.
	Registry string
	// Repository is the repository path for a remote reference.
	Repository string
	// Layout is the OCI image layout directory for an "oci:" reference,
	// or the tar file for an "oci-archive:" one (then Archive is set).
	Layout  string
	Archive bool
	Tag     string
	Digest  digest.Digest
}

// IsLayout reports whether r names a local OCI image layout.
func (r Reference) IsLayout() bool { return r.Layout != "" }

// Ref returns the tag or digest part, or "" when there is none.
func (r Reference) Ref() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// WithDigest returns r pinned to d (keeping the repository, dropping the tag).
func (r Reference) WithDigest(d digest.Digest) Reference {
	r.Tag, r.Digest = "", d
	return r
}

func (r Reference) String() string {
	var b strings.Builder
	if r.IsLayout() {
		prefix := LayoutPrefix
		if r.Archive {
			prefix = ArchivePrefix
		}
		b.WriteString(prefix + r.Layout)
		if r.Tag != "" {
			b.WriteString(":" + r.Tag)
		}
	} else {
		b.WriteString(r.Registry + "/" + r.Repository)
		if r.Tag != "" {
			b.WriteString(":" + r.Tag)
		}
	}
	if r.Digest != "" {
		b.WriteString("@" + r.Digest.String())
	}
	return b.String()
}

// layoutRefName follows the OCI image layout's org.opencontainers.image.ref.name grammar.
var layoutRefName = regexp.MustCompile(`^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$`)

// ParseReference parses "host[:port]/repo[:tag|@digest]" or
// "oci:PATH[:TAG|@DIGEST]". In a layout reference the path ends at the first
// colon, as in skopeo, so "oci:./store:llama:v1" is layout "./store", tag
// "llama:v1" (a layout's tag may hold colons). "oci://host/repo:tag", as
// KServe names a model in a registry (a storage initializer gets it so),
// is the registry reference host/repo:tag, not a layout.
func ParseReference(s string) (Reference, error) {
	if rest, ok := strings.CutPrefix(s, "oci://"); ok {
		if strings.Contains(rest, "://") {
			return Reference{}, fmt.Errorf("%w %q: two schemes", ErrBadReference, s)
		}
		s = rest
	} else if rest, ok := strings.CutPrefix(s, LayoutPrefix); ok {
		return parseLayout(s, rest)
	}
	if rest, ok := strings.CutPrefix(s, ArchivePrefix); ok {
		ref, err := parseLayout(s, rest)
		ref.Archive = err == nil
		return ref, err
	}
	if strings.Contains(s, "://") {
		return Reference{}, fmt.Errorf("%w %q: no scheme is needed (use host/repo:tag)", ErrBadReference, s)
	}
	r, err := orasregistry.ParseReference(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w %q: %v (want host[:port]/repo[:tag|@digest] or oci:PATH[:TAG])", ErrBadReference, s, err)
	}
	ref := Reference{Registry: r.Registry, Repository: r.Repository}
	if d, err := r.Digest(); err == nil {
		ref.Digest = d
	} else {
		ref.Tag = r.Reference
	}
	return ref, nil
}

func parseLayout(s, rest string) (Reference, error) {
	ref := Reference{}
	if path, d, ok := strings.Cut(rest, "@"); ok {
		dg, err := digest.Parse(d)
		if err != nil {
			return Reference{}, fmt.Errorf("%w %q: digest: %v", ErrBadReference, s, err)
		}
		rest, ref.Digest = path, dg
	}
	if path, tag, ok := strings.Cut(rest, ":"); ok {
		if ref.Digest != "" {
			return Reference{}, fmt.Errorf("%w %q: give a tag or a digest, not both", ErrBadReference, s)
		}
		if !layoutRefName.MatchString(tag) {
			return Reference{}, fmt.Errorf("%w %q: tag %q is not a valid OCI layout reference name", ErrBadReference, s, tag)
		}
		rest, ref.Tag = path, tag
	}
	if rest == "" {
		return Reference{}, fmt.Errorf("%w %q: no layout path", ErrBadReference, s)
	}
	ref.Layout = rest
	return ref, nil
}

// IsLoopback reports whether a registry host ("host[:port]") is this machine,
// where plain HTTP is safe to use by default.
func IsLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
