package registry

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"oras.land/oras-go/v2/registry"
)

// digestTag matches the tags cosign and the referrers tag schema write
// ("sha256-<hex>", with ".sig" or ".att"), which name no model.
var digestTag = regexp.MustCompile(`^sha(256|512)-[0-9a-f]+(\.sig|\.att)?$`)

// MaxLayoutTags caps the tags read from an OCI layout or archive's index.
const MaxLayoutTags = 10_000

// ChooseOnlyTag completes a layout or archive reference that names no tag
// or digest: when the layout holds exactly one tag (cosign's and the
// referrers schema's sha256-<hex> tags aside), the reference takes it and
// ChooseOnlyTag returns it; with none, or several (listed), it is an
// ErrBadReference. A reference that names a tag or digest, or a registry
// repository, is left as it is ("" returned).
func (r *Repository) ChooseOnlyTag(ctx context.Context) (string, error) {
	if !r.Ref.IsLayout() || r.Ref.Ref() != "" {
		return "", nil
	}
	lister, ok := r.target.(registry.TagLister)
	if !ok {
		return "", nil
	}
	var tags []string
	err := lister.Tags(ctx, "", func(page []string) error {
		for _, t := range page {
			if !digestTag.MatchString(t) {
				tags = append(tags, t)
			}
		}
		if len(tags) > MaxLayoutTags {
			return fmt.Errorf("more than %d tags", MaxLayoutTags)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%s: list tags: %w", r.Ref, err)
	}
	slices.Sort(tags)
	switch len(tags) {
	case 1:
		r.Ref.Tag = tags[0]
		return tags[0], nil
	case 0:
		return "", fmt.Errorf("%w %s: it holds no tagged manifest: name a digest (%s@sha256:...)", ErrBadReference, r.Ref, r.Ref)
	}
	list := strings.Join(tags, ", ")
	if len(tags) > 20 {
		list = strings.Join(tags[:20], ", ") + ", ..."
	}
	return "", fmt.Errorf("%w %s: name one of its %d tags: %s", ErrBadReference, r.Ref, len(tags), list)
}
