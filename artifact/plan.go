package artifact

import (
	_ "crypto/sha512" // entry accepts sha512 digests: make sure they can be checked
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/errdef"
)

// Limits cap what a manifest may ask of the puller. The zero value of each
// field means its documented default.
type Limits struct {
	// MaxLayers <= 0 means 10,000.
	MaxLayers int
	// MaxLayerSize <= 0 means 1 TiB.
	MaxLayerSize int64
	// MaxExpansion bounds what a compressed tar layer without a declared
	// file size may unpack to, as a multiple of its blob size. <= 0 means 100.
	MaxExpansion int64
}

// DefaultMaxLayers is how many layers a pull accepts by default.
const DefaultMaxLayers = 10000

func (l Limits) maxLayers() int {
	if l.MaxLayers <= 0 {
		return DefaultMaxLayers
	}
	return l.MaxLayers
}

func (l Limits) maxLayerSize() int64 {
	if l.MaxLayerSize <= 0 {
		return 1 << 40
	}
	return l.MaxLayerSize
}

func (l Limits) maxExpansion() int64 {
	if l.MaxExpansion <= 0 {
		return 100
	}
	return l.MaxExpansion
}

// MaxManifestSize caps manifests and configs read from a registry.
const MaxManifestSize = 4 << 20

// maxAnnotation caps the file metadata annotation before it is parsed.
const maxAnnotation = 64 << 10

// RootPath is the annotated path of a tar layer of files at the model's
// root.
const RootPath = "."

// Kind names the flavour of artifact a manifest is.
type Kind string

const (
	KindModelPack       Kind = "modelpack"
	KindModelPackLegacy Kind = "modelpack-cnai" // pre-CNCF org.cnai names
	KindKitOps          Kind = "kitops"         // a KitOps ModelKit (Kitfile config)
	KindORAS            Kind = "oras-files"     // plain ORAS file artifact
)

// Entry is one layer of a plan and how to write it.
type Entry struct {
	// Path is where a raw layer's file goes, or the path a tar layer was
	// annotated with (its entries carry their own paths).
	Path   string
	Layer  ocispec.Descriptor
	Format Format
	// Mode of a raw layer's file (permission bits).
	Mode fs.FileMode
	// DeclaredSize is the unpacked size from the file metadata annotation,
	// or -1 when none was declared.
	DeclaredSize int64
	// DiffID is the digest of the uncompressed layer from the config, if known.
	DiffID digest.Digest
}

// Plan is a validated manifest: every layer has a safe path, a known format
// and sane sizes. Nothing is fetched to build it.
type Plan struct {
	Manifest ocispec.Manifest
	Kind     Kind
	Entries  []Entry
	limits   Limits
	// include, when not nil, is the selection of a partial pull (see
	// Select): the Unpacker writes only the tar entries it selects.
	include selection
	// unselected are the raw files of the whole model that Select left
	// out: a tar entry may not take their names in a partial pull either.
	unselected []string
	// folding is how the target filesystem compares names (see WithFolding).
	folding Folding
}

// WithFolding returns a copy of the plan for a target filesystem that
// folds names as f does: it refuses, before anything is fetched, two files
// (or directories) whose names f takes for one, and makes the Unpacker
// refuse such names among tar entries too. The whole model's raw files
// count, selected or not, as for duplicates.
func (p *Plan) WithFolding(f Folding) (*Plan, error) {
	out := *p
	out.folding = f
	paths := newPathSet(f)
	for _, e := range p.Entries {
		claim := paths.addDir
		if e.Format == FormatRaw {
			claim = paths.addFile
		} else if e.Path == RootPath {
			continue
		}
		if err := claim(e.Path); err != nil {
			return nil, fmt.Errorf("layer %s: %w", e.Layer.Digest, err)
		}
	}
	for _, name := range p.unselected {
		if err := paths.addFile(name); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// ParseManifest validates manifest bytes that have already been size-capped
// and digest-checked, and returns the plan for unpacking them.
func ParseManifest(data []byte, limits Limits) (*Plan, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest is not valid JSON: %v", ErrNotModel, err)
	}
	switch m.MediaType {
	case ocispec.MediaTypeImageManifest:
	case "":
		if m.SchemaVersion != 2 || m.Config.MediaType == "" {
			return nil, fmt.Errorf("%w: not an OCI image manifest", ErrNotModel)
		}
	case ocispec.MediaTypeImageIndex:
		return nil, fmt.Errorf("%w: reference names an index, not a model manifest", ErrNotModel)
	default:
		return nil, fmt.Errorf("%w: unsupported manifest media type %q", ErrNotModel, m.MediaType)
	}
	if len(m.Layers) == 0 {
		return nil, fmt.Errorf("%w: manifest has no layers", ErrNotModel)
	}
	if n := len(m.Layers); n > limits.maxLayers() {
		return nil, fmt.Errorf("%w: manifest has %d layers, more than the %d allowed", errdef.ErrLimit, n, limits.maxLayers())
	}
	p := &Plan{Manifest: m, Kind: kindOfManifest(m), limits: limits}
	if p.Kind == "" {
		return nil, fmt.Errorf("%w: artifact type %q, config %q: neither a ModelPack model nor files named with %s",
			ErrNotModel, m.ArtifactType, m.Config.MediaType, ocispec.AnnotationTitle)
	}
	paths := newPathSet(Folding{})
	// Every raw layer names a path of its own; ModelPack tar layers may
	// share a directory (a large one is split into groups), since their
	// entries are checked against each other as they are extracted. ORAS
	// unpacks a tar layer into the directory its title names, so there a
	// title stays unique.
	named := map[string]Format{}
	for i, l := range m.Layers {
		e, err := p.entry(l)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
		if f, ok := named[e.Path]; ok && (f == FormatRaw || e.Format == FormatRaw || p.Kind == KindORAS) {
			return nil, fmt.Errorf("layer %d (%s): %w: %q: named by two layers", i, l.Digest, errdef.ErrUnsafePath, e.Path)
		}
		named[e.Path] = e.Format
		switch {
		case e.Format == FormatRaw:
			err = paths.addFile(e.Path)
		case e.Path != RootPath:
			// A tar layer's entries are checked as they are extracted; its
			// annotated path only has to be safe.
			err = paths.addDir(e.Path)
		}
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}

func kindOfManifest(m ocispec.Manifest) Kind {
	switch {
	case m.ArtifactType == modelspec.ArtifactTypeModelManifest || m.Config.MediaType == modelspec.MediaTypeModelConfig:
		return KindModelPack
	case m.ArtifactType == legacyArtifactType || m.Config.MediaType == legacyConfigType:
		return KindModelPackLegacy
	case m.ArtifactType == kitArtifactType || m.Config.MediaType == kitConfigType:
		return KindKitOps
	}
	for _, l := range m.Layers {
		if l.Annotations[ocispec.AnnotationTitle] == "" {
			return ""
		}
	}
	return KindORAS
}

func (p *Plan) entry(l ocispec.Descriptor) (Entry, error) {
	if err := l.Digest.Validate(); err != nil {
		return Entry{}, fmt.Errorf("%w: bad digest %q: %v", ErrNotModel, l.Digest, err)
	}
	if l.Digest.Algorithm() != digest.SHA256 && l.Digest.Algorithm() != digest.SHA512 {
		return Entry{}, fmt.Errorf("%w: digest algorithm %q not accepted", ErrNotModel, l.Digest.Algorithm())
	}
	if l.Size < 0 || l.Size > p.limits.maxLayerSize() {
		return Entry{}, fmt.Errorf("%w: declared size %d outside 0..%d", errdef.ErrLimit, l.Size, p.limits.maxLayerSize())
	}
	e := Entry{Layer: l, Mode: 0o644, DeclaredSize: -1}
	var raw string
	switch p.Kind {
	case KindModelPack, KindModelPackLegacy, KindKitOps:
		raw = firstNonEmpty(l.Annotations[modelspec.AnnotationFilepath], l.Annotations[legacyAnnotPath], l.Annotations[ocispec.AnnotationTitle])
		f, ok := modelLayerFormat(l.MediaType)
		if !ok {
			return Entry{}, fmt.Errorf("%w: unknown layer media type %q", ErrNotModel, l.MediaType)
		}
		e.Format = f
	default:
		raw = l.Annotations[ocispec.AnnotationTitle]
		e.Format = genericLayerFormat(l.Annotations)
	}
	if raw == "" {
		return Entry{}, fmt.Errorf("%w: layer names no file path", errdef.ErrUnsafePath)
	}
	if e.Format != FormatRaw && (raw == RootPath || raw == "./") {
		// A tar layer of files at the model's root (vessel groups them so);
		// its entries are checked one by one as for any tar layer.
		e.Path = RootPath
		return e, e.readMetadata(firstNonEmpty(l.Annotations[modelspec.AnnotationFileMetadata], l.Annotations[legacyAnnotMetadata]))
	}
	clean, err := CleanPath(raw)
	if err != nil {
		return Entry{}, err
	}
	if e.Format == FormatRaw && strings.HasSuffix(raw, "/") {
		// CleanPath trims it (a tar names directories so), but a raw layer
		// is one file: a path that says directory is refused, not repaired.
		return Entry{}, fmt.Errorf("%w: %q: a file's path ends in a slash", errdef.ErrUnsafePath, raw)
	}
	e.Path = clean
	if err := e.readMetadata(firstNonEmpty(l.Annotations[modelspec.AnnotationFileMetadata], l.Annotations[legacyAnnotMetadata])); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", clean, err)
	}
	return e, nil
}

// readMetadata takes the mode and size from the file metadata annotation.
func (e *Entry) readMetadata(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxAnnotation {
		return fmt.Errorf("%w: file metadata annotation is %d bytes", errdef.ErrLimit, len(s))
	}
	var md struct {
		Mode     uint32 `json:"mode"`
		Size     *int64 `json:"size"`
		Typeflag byte   `json:"typeflag"`
	}
	if err := json.Unmarshal([]byte(s), &md); err != nil {
		return fmt.Errorf("%w: file metadata annotation: %v", ErrNotModel, err)
	}
	if p := fs.FileMode(md.Mode).Perm(); p != 0 {
		e.Mode = p
	}
	isReg := md.Typeflag == 0 || md.Typeflag == '0'
	if md.Size != nil && isReg {
		if *md.Size < 0 {
			return fmt.Errorf("%w: file metadata declares size %d", errdef.ErrSizeMismatch, *md.Size)
		}
		e.DeclaredSize = *md.Size
		if e.Format == FormatRaw && *md.Size != e.Layer.Size {
			return fmt.Errorf("%w: file metadata says %d bytes, layer says %d", errdef.ErrSizeMismatch, *md.Size, e.Layer.Size)
		}
	}
	return nil
}

// ApplyConfig records the layers' diff IDs from a ModelPack config (already
// size-capped and digest-checked), so unpacking can check uncompressed
// content too. Configs of other artifact kinds are ignored.
func (p *Plan) ApplyConfig(data []byte) (*modelspec.Model, error) {
	if !isModelConfigType(p.Manifest.Config.MediaType) {
		return nil, nil
	}
	var m modelspec.Model
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: model config: %v", ErrNotModel, err)
	}
	ids := m.ModelFS.DiffIDs
	if len(ids) == 0 {
		return &m, nil
	}
	if len(ids) != len(p.Entries) {
		return nil, fmt.Errorf("%w: model config lists %d diff IDs for %d layers", ErrNotModel, len(ids), len(p.Entries))
	}
	for i := range p.Entries {
		e := &p.Entries[i]
		if err := ids[i].Validate(); err != nil {
			return nil, fmt.Errorf("%w: model config diff ID %d: %v", ErrNotModel, i, err)
		}
		// An uncompressed layer (raw or plain tar) is its own diff ID; the
		// unpacker checks only the blob digest for those.
		if (e.Format == FormatRaw || e.Format == FormatTar) && ids[i] != e.Layer.Digest {
			return nil, fmt.Errorf("%s: %w: config diff ID %s differs from %s layer digest %s", e.Path, errdef.ErrDigestMismatch, ids[i], e.Format, e.Layer.Digest)
		}
		e.DiffID = ids[i]
	}
	return &m, nil
}

// Files lists the raw files a plan writes, for display before download.
func (p *Plan) Files() []string {
	out := make([]string, 0, len(p.Entries))
	for _, e := range p.Entries {
		name := e.Path
		if e.Format != FormatRaw {
			name += " (" + e.Format.String() + ")"
		}
		out = append(out, name)
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// selection is the patterns of a partial pull. A pattern is a path.Match
// glob that, as in MediaTypeRule, matches a file's base name when it has no
// slash and its whole relative path when it has one.
type selection []MediaTypeRule

// mayMatchUnder reports whether some path below dir (a tar layer's,
// whose entries all lie under it) could match: a pattern with a slash
// matches element by element ("*" never crosses a slash), so one that has
// no more elements than dir, or whose leading elements do not match
// dir's, matches nothing below it. A pattern without a slash matches base
// names anywhere.
func (s selection) mayMatchUnder(dir string) bool {
	if dir == RootPath {
		return true
	}
	dirElems := strings.Split(dir, "/")
	for _, r := range s {
		if !strings.Contains(r.Pattern, "/") {
			return true
		}
		pat := strings.Split(r.Pattern, "/")
		if len(pat) <= len(dirElems) {
			continue
		}
		ok := true
		for i, d := range dirElems {
			if m, _ := path.Match(pat[i], d); !m {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (s selection) matches(rel string) bool {
	for _, r := range s {
		if r.matches(rel) {
			return true
		}
	}
	return false
}

// CheckPatterns reports the first pattern that is empty or not a valid
// path.Match glob (the error wraps path.ErrBadPattern).
func CheckPatterns(patterns []string) error {
	for _, p := range patterns {
		if p == "" {
			return fmt.Errorf("include pattern %q: %w: empty", p, path.ErrBadPattern)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("include pattern %q: %w", p, err)
		}
	}
	return nil
}

// Select returns a copy of the plan that holds only what a partial pull
// of patterns needs (at least one pattern; see CheckPatterns). The rule:
//
//   - A raw layer is kept when a pattern matches its path. Other raw layers
//     are not fetched at all.
//   - A tar layer is always kept: which files it holds is known only by
//     reading it. The whole blob is downloaded and checked against its
//     digest as usual; the Unpacker writes every entry when a pattern
//     matches the layer's annotated path, else only the regular files whose
//     own paths match (with the parent directories they need). Other
//     entries are still checked (path, type) but read and discarded.
//
// Select fails with ErrNoMatch when no raw layer matches and there is no
// tar layer. When tar layers are kept, whether any of their files match is
// known only after unpacking: the caller must check that something was
// written. Diff IDs from ApplyConfig are kept.
func (p *Plan) Select(patterns []string) (*Plan, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("select: %w: no pattern", path.ErrBadPattern)
	}
	if err := CheckPatterns(patterns); err != nil {
		return nil, fmt.Errorf("select: %w", err)
	}
	sel := make(selection, len(patterns))
	for i, pat := range patterns {
		sel[i] = MediaTypeRule{Pattern: pat}
	}
	out := &Plan{Manifest: p.Manifest, Kind: p.Kind, limits: p.limits, include: sel, folding: p.folding}
	for _, e := range p.Entries {
		switch {
		case e.Format != FormatRaw && sel.mayMatchUnder(e.Path):
			out.Entries = append(out.Entries, e)
		case e.Format != FormatRaw:
			// None of its entries (all under its path) can be selected:
			// not fetched at all.
		case sel.matches(e.Path):
			out.Entries = append(out.Entries, e)
		default:
			out.unselected = append(out.unselected, e.Path)
		}
	}
	if len(out.Entries) == 0 {
		return nil, fmt.Errorf("select %q: %w", patterns, ErrNoMatch)
	}
	return out, nil
}

// Partial reports whether the plan is a selection (see Select).
func (p *Plan) Partial() bool { return p.include != nil }

// Selects reports whether the plan's selection takes the file name (every
// file, when the plan is not a selection).
func (p *Plan) Selects(name string) bool { return p.include == nil || p.include.matches(name) }
