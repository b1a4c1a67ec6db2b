package artifact

import (
	"fmt"
	"path"
	"strings"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
)

// Role is what a file is to a model; it picks the layer media type.
type Role string

const (
	RoleWeight       Role = "weight"
	RoleWeightConfig Role = "weight.config"
	RoleDoc          Role = "doc"
	RoleCode         Role = "code"
	RoleDataset      Role = "dataset"
)

// Roles lists the ModelPack roles in the order they are documented.
var Roles = []Role{RoleWeight, RoleWeightConfig, RoleDoc, RoleCode, RoleDataset}

// RawMediaType is the ModelPack media type of an uncompressed single file.
func (r Role) RawMediaType() string {
	return "application/vnd.cncf.model." + string(r) + ".v1.raw"
}

// Format is how a layer's bytes encode its files.
type Format int

const (
	FormatRaw     Format = iota // the blob is the file itself
	FormatTar                   // an uncompressed tar of one or more files
	FormatTarGzip               // tar+gzip
	FormatTarZstd               // tar+zstd
)

func (f Format) String() string {
	return [...]string{"raw", "tar", "tar+gzip", "tar+zstd"}[f]
}

// Well-known media types and annotations read besides ModelPack's own.
const (
	// Older ModelPack drafts (CloudNativeAI, Dragonfly's modctl before the
	// CNCF rename) used the org.cnai / vnd.cnai names.
	legacyArtifactType  = "application/vnd.cnai.model.manifest.v1+json"
	legacyConfigType    = "application/vnd.cnai.model.config.v1+json"
	legacyAnnotPath     = "org.cnai.model.filepath"
	legacyAnnotMetadata = "org.cnai.model.file.metadata+json"
	// ORAS marks a directory it tarred and gzipped with this annotation.
	orasUnpackAnnotation = "io.deis.oras.content.unpack"
	// KitOps ModelKits: a Kitfile as config, layers
	// application/vnd.kitops.modelkit.<model|modelpart|dataset|code|docs>.v1.<tar|raw>[+gzip|+zstd],
	// each annotated with the Kitfile path it holds (org.cncf.model.filepath).
	kitArtifactType = "application/vnd.kitops.modelkit.manifest.v1+json"
	kitConfigType   = "application/vnd.kitops.modelkit.config.v1+json"
	kitLayerPrefix  = "application/vnd.kitops.modelkit."
)

// isModelConfigType reports whether mt is a ModelPack config media type.
func isModelConfigType(mt string) bool {
	return mt == modelspec.MediaTypeModelConfig || mt == legacyConfigType
}

// modelLayerFormat reads the format from a ModelPack (or KitOps) layer
// media type ("application/vnd.cncf.model.weight.v1.tar+gzip" ->
// FormatTarGzip).
func modelLayerFormat(mt string) (Format, bool) {
	if !strings.HasPrefix(mt, "application/vnd.cncf.model.") && !strings.HasPrefix(mt, "application/vnd.cnai.model.") && !strings.HasPrefix(mt, kitLayerPrefix) {
		return 0, false
	}
	switch {
	case strings.HasSuffix(mt, ".raw"):
		return FormatRaw, true
	case strings.HasSuffix(mt, ".tar"):
		return FormatTar, true
	case strings.HasSuffix(mt, ".tar+gzip"), strings.HasSuffix(mt, ".tar.gzip"):
		return FormatTarGzip, true
	case strings.HasSuffix(mt, ".tar+zstd"), strings.HasSuffix(mt, ".tar.zstd"):
		return FormatTarZstd, true
	}
	return 0, false
}

// genericLayerFormat reads the format of a layer in a plain ORAS file
// artifact: oras pushes a file's bytes as they are (under whatever media type
// it was given) and a directory as tar+gzip marked with an annotation.
func genericLayerFormat(annotations map[string]string) Format {
	if annotations[orasUnpackAnnotation] == "true" {
		return FormatTarGzip
	}
	return FormatRaw
}

// fileRules map names to roles, first match wins. Patterns without a slash
// match the base name, case-insensitively.
var fileRules = []struct {
	pattern string
	role    Role
}{
	{"readme*", RoleDoc}, {"license*", RoleDoc}, {"licence*", RoleDoc}, {"notice*", RoleDoc},
	{"changelog*", RoleDoc}, {"*.md", RoleDoc}, {"*.rst", RoleDoc}, {"*.pdf", RoleDoc},
	{"requirements*.txt", RoleCode}, {"dockerfile", RoleCode}, {"makefile", RoleCode},
	{"*.py", RoleCode}, {"*.ipynb", RoleCode}, {"*.sh", RoleCode}, {"*.js", RoleCode},
	{"*.ts", RoleCode}, {"*.go", RoleCode}, {"*.rs", RoleCode}, {"*.c", RoleCode},
	{"*.cc", RoleCode}, {"*.cpp", RoleCode}, {"*.h", RoleCode}, {"*.cu", RoleCode}, {"*.java", RoleCode},
	{"*.json", RoleWeightConfig}, {"*.yaml", RoleWeightConfig}, {"*.yml", RoleWeightConfig},
	{"*.toml", RoleWeightConfig}, {"*.txt", RoleWeightConfig}, {"*.model", RoleWeightConfig},
	{"*.tiktoken", RoleWeightConfig}, {"*.vocab", RoleWeightConfig}, {"*.spm", RoleWeightConfig},
	{"*.jinja", RoleWeightConfig},
	{"*.csv", RoleDataset}, {"*.tsv", RoleDataset}, {"*.parquet", RoleDataset}, {"*.arrow", RoleDataset},
	{"*.jsonl", RoleDataset},
}

// matchBase is path.Match for fileRules' patterns, with their two common
// shapes ("*.ext", "prefix*") checked directly: a dataset of 100,000 files
// asks every pattern of every file.
func matchBase(pattern, name string) bool {
	switch i := strings.IndexAny(pattern, "*?[\\"); {
	case i < 0:
		return pattern == name
	case i == 0 && !strings.ContainsAny(pattern[1:], "*?[\\") && !strings.Contains(name, "/"):
		return strings.HasSuffix(name, pattern[1:])
	case i == len(pattern)-1 && pattern[i] == '*' && !strings.Contains(name, "/"):
		return strings.HasPrefix(name, pattern[:i])
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// DefaultRole guesses a file's role from its relative path. Anything not
// recognised is a weight: weights are the large, opaque files.
func DefaultRole(rel string, dataset bool) Role {
	base := strings.ToLower(path.Base(rel))
	for _, r := range fileRules {
		if matchBase(r.pattern, base) {
			if dataset && r.role != RoleDoc {
				return RoleDataset
			}
			return r.role
		}
	}
	if dataset {
		return RoleDataset
	}
	return RoleWeight
}

// MediaTypeRule overrides the media type of files matching Pattern.
type MediaTypeRule struct {
	// Pattern is a path.Match glob. Without a slash it matches the base name,
	// with one the whole relative path.
	Pattern string
	// MediaType is the layer media type to use.
	MediaType string
}

// ParseMediaTypeRule parses "GLOB=TYPE", where TYPE is a role name
// (weight, weight.config, doc, code, dataset) or a full media type.
func ParseMediaTypeRule(s string) (MediaTypeRule, error) {
	glob, typ, ok := strings.Cut(s, "=")
	if !ok || glob == "" || typ == "" {
		return MediaTypeRule{}, fmt.Errorf("media type rule %q: want GLOB=TYPE", s)
	}
	if _, err := path.Match(glob, ""); err != nil {
		return MediaTypeRule{}, fmt.Errorf("media type rule %q: bad glob: %w", s, err)
	}
	for _, r := range Roles {
		if typ == string(r) {
			return MediaTypeRule{Pattern: glob, MediaType: r.RawMediaType()}, nil
		}
	}
	if !strings.Contains(typ, "/") {
		return MediaTypeRule{}, fmt.Errorf("media type rule %q: %q is neither a role (weight, weight.config, doc, code, dataset) nor a media type", s, typ)
	}
	return MediaTypeRule{Pattern: glob, MediaType: typ}, nil
}

func (r MediaTypeRule) matches(rel string) bool {
	name := rel
	if !strings.Contains(r.Pattern, "/") {
		name = path.Base(rel)
	}
	ok, _ := path.Match(r.Pattern, name)
	return ok
}

// layerMediaType picks the media type for a file: the last matching rule
// wins (so later flags override earlier ones), else the default role.
func layerMediaType(rel string, dataset bool, rules []MediaTypeRule) string {
	for i := len(rules) - 1; i >= 0; i-- {
		if rules[i].matches(rel) {
			return rules[i].MediaType
		}
	}
	return DefaultRole(rel, dataset).RawMediaType()
}
