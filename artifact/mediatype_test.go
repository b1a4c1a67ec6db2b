package artifact

import (
	"path"
	"testing"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
)

func TestDefaultRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path    string
		dataset bool
		want    Role
	}{
		{"README.md", false, RoleDoc},
		{"readme", false, RoleDoc},
		{"LICENSE", false, RoleDoc},
		{"LICENCE.txt", false, RoleDoc},
		{"NOTICE", false, RoleDoc},
		{"docs/guide.md", false, RoleDoc},
		{"paper.PDF", false, RoleDoc},
		{"config.json", false, RoleWeightConfig},
		{"tokenizer.json", false, RoleWeightConfig},
		{"generation_config.json", false, RoleWeightConfig},
		{"tokenizer.model", false, RoleWeightConfig},
		{"vocab.txt", false, RoleWeightConfig},
		{"chat_template.jinja", false, RoleWeightConfig},
		{"model.safetensors", false, RoleWeight},
		{"model-00001-of-00002.safetensors", false, RoleWeight},
		{"pytorch_model.bin", false, RoleWeight},
		{"sub/model.gguf", false, RoleWeight},
		{"foo.py", false, RoleCode},
		{"src/MODEL.PY", false, RoleCode}, // matching ignores case
		{"Dockerfile", false, RoleCode},
		{"requirements.txt", false, RoleCode}, // before the *.txt rule
		{"requirements-dev.txt", false, RoleCode},
		{"train.sh", false, RoleCode},
		{"data.csv", false, RoleDataset},
		{"train.jsonl", false, RoleDataset}, // not *.json
		{"unknown.xyz", false, RoleWeight},
		{"noextension", false, RoleWeight},
		{".hidden", false, RoleWeight},
		// Dataset mode: everything but documentation is a dataset.
		{"README.md", true, RoleDoc},
		{"LICENSE", true, RoleDoc},
		{"config.json", true, RoleDataset},
		{"data.parquet", true, RoleDataset},
		{"model.safetensors", true, RoleDataset},
		{"foo.py", true, RoleDataset},
		{"unknown.xyz", true, RoleDataset},
	}
	for _, tc := range tests {
		if got := DefaultRole(tc.path, tc.dataset); got != tc.want {
			t.Errorf("DefaultRole(%q, dataset=%v) = %q, want %q", tc.path, tc.dataset, got, tc.want)
		}
	}
}

func TestRoleRawMediaType(t *testing.T) {
	t.Parallel()
	want := map[Role]string{
		RoleWeight:       modelspec.MediaTypeModelWeightRaw,
		RoleWeightConfig: modelspec.MediaTypeModelWeightConfigRaw,
		RoleDoc:          modelspec.MediaTypeModelDocRaw,
		RoleCode:         modelspec.MediaTypeModelCodeRaw,
		RoleDataset:      modelspec.MediaTypeModelDatasetRaw,
	}
	if len(Roles) != len(want) {
		t.Fatalf("Roles has %d entries, want %d", len(Roles), len(want))
	}
	for _, r := range Roles {
		if got := r.RawMediaType(); got != want[r] {
			t.Errorf("%s.RawMediaType() = %q, want %q", r, got, want[r])
		}
	}
}

func TestParseMediaTypeRule(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want MediaTypeRule
	}{
		{"*.bin=weight", MediaTypeRule{"*.bin", modelspec.MediaTypeModelWeightRaw}},
		{"*.json=weight.config", MediaTypeRule{"*.json", modelspec.MediaTypeModelWeightConfigRaw}},
		{"NOTES=doc", MediaTypeRule{"NOTES", modelspec.MediaTypeModelDocRaw}},
		{"*.lua=code", MediaTypeRule{"*.lua", modelspec.MediaTypeModelCodeRaw}},
		{"data/*=dataset", MediaTypeRule{"data/*", modelspec.MediaTypeModelDatasetRaw}},
		{"*.gguf=application/x-gguf", MediaTypeRule{"*.gguf", "application/x-gguf"}},
		{"[ab].bin=weight", MediaTypeRule{"[ab].bin", modelspec.MediaTypeModelWeightRaw}},
		// Only the first "=" separates: a media type may hold parameters.
		{"x=text/plain;charset=utf-8", MediaTypeRule{"x", "text/plain;charset=utf-8"}},
	}
	for _, tc := range good {
		got, err := ParseMediaTypeRule(tc.in)
		if err != nil {
			t.Errorf("ParseMediaTypeRule(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseMediaTypeRule(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	bad := []string{
		"",
		"*.bin",          // no "="
		"=weight",        // no glob
		"*.bin=",         // no type
		"[=weight",       // bad glob
		"a[b=weight",     // bad glob
		"*.bin=weights",  // not a role, not a media type
		"*.bin=Weight",   // roles are lower case
		"*.bin=raw",      // not a role
		"*.bin=tar+gzip", // not a role
	}
	for _, in := range bad {
		if got, err := ParseMediaTypeRule(in); err == nil {
			t.Errorf("ParseMediaTypeRule(%q) = %+v, want an error", in, got)
		}
	}
}

func TestLayerMediaType(t *testing.T) {
	t.Parallel()
	rule := func(s string) MediaTypeRule {
		r, err := ParseMediaTypeRule(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	weight, doc, code, dataset := RoleWeight.RawMediaType(), RoleDoc.RawMediaType(), RoleCode.RawMediaType(), RoleDataset.RawMediaType()
	tests := []struct {
		name    string
		path    string
		dataset bool
		rules   []MediaTypeRule
		want    string
	}{
		{"no rules: default role", "README.md", false, nil, doc},
		{"no rules: dataset mode", "config.json", true, nil, dataset},
		{"rule overrides default", "README.md", false, []MediaTypeRule{rule("README.md=weight")}, weight},
		{"rule overrides dataset mode", "x.csv", true, []MediaTypeRule{rule("*.csv=code")}, code},
		{"non-matching rule keeps default", "foo.py", false, []MediaTypeRule{rule("*.bin=doc")}, code},
		{"last matching rule wins", "model.bin", false, []MediaTypeRule{rule("*.bin=weight"), rule("model.bin=doc")}, doc},
		{"last matching rule wins, reversed", "model.bin", false, []MediaTypeRule{rule("model.bin=doc"), rule("*.bin=weight")}, weight},
		{"later non-matching rule ignored", "a.bin", false, []MediaTypeRule{rule("*.bin=doc"), rule("*.py=weight")}, doc},
		{"base-name glob matches in subdirectory", "sub/deep/x.bin", false, []MediaTypeRule{rule("x.bin=doc")}, doc},
		{"slash glob matches whole path", "sub/x.bin", false, []MediaTypeRule{rule("sub/*.bin=code")}, code},
		{"slash glob does not match at top", "x.bin", false, []MediaTypeRule{rule("sub/*.bin=code")}, weight},
		{"slash glob does not match deeper", "sub/deep/x.bin", false, []MediaTypeRule{rule("sub/*.bin=code")}, weight},
		{"slash glob does not match another dir", "other/x.bin", false, []MediaTypeRule{rule("sub/*.bin=code")}, weight},
		{"full media type", "m.gguf", false, []MediaTypeRule{rule("*.gguf=application/x-gguf")}, "application/x-gguf"},
	}
	for _, tc := range tests {
		if got := layerMediaType(tc.path, tc.dataset, tc.rules); got != tc.want {
			t.Errorf("%s: layerMediaType(%q) = %q, want %q", tc.name, tc.path, got, tc.want)
		}
	}
}

func TestModelLayerFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mt   string
		want Format
		ok   bool
	}{
		{modelspec.MediaTypeModelWeightRaw, FormatRaw, true},
		{modelspec.MediaTypeModelWeight, FormatTar, true},
		{modelspec.MediaTypeModelWeightGzip, FormatTarGzip, true},
		{modelspec.MediaTypeModelWeightZstd, FormatTarZstd, true},
		{modelspec.MediaTypeModelDocRaw, FormatRaw, true},
		{modelspec.MediaTypeModelCodeZstd, FormatTarZstd, true},
		{"application/vnd.cncf.model.weight.v1.tar.gzip", FormatTarGzip, true},
		{"application/vnd.cncf.model.weight.v1.tar.zstd", FormatTarZstd, true},
		{"application/vnd.cnai.model.weight.v1.raw", FormatRaw, true},
		{"application/vnd.cnai.model.weight.v1.tar+gzip", FormatTarGzip, true},
		{"application/vnd.cncf.model.weight.v1.zip", 0, false},
		{"application/vnd.cncf.model.weight.v1.tar+lz4", 0, false},
		{"application/vnd.oci.image.layer.v1.tar", 0, false},
		{"application/octet-stream", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, ok := modelLayerFormat(tc.mt)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("modelLayerFormat(%q) = %v, %v; want %v, %v", tc.mt, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFormatString(t *testing.T) {
	t.Parallel()
	want := map[Format]string{FormatRaw: "raw", FormatTar: "tar", FormatTarGzip: "tar+gzip", FormatTarZstd: "tar+zstd"}
	for f, s := range want {
		if f.String() != s {
			t.Errorf("Format(%d).String() = %q, want %q", int(f), f.String(), s)
		}
	}
}

// matchBase agrees with path.Match on every file rule.
func TestMatchBaseIsPathMatch(t *testing.T) {
	t.Parallel()
	names := []string{"", "readme", "readme.md", "README.MD", ".md", "x.md.bak", "model.safetensors", "license", "licence-2.txt",
		"requirements-dev.txt", "dockerfile", "a*b", "[x]", "tokenizer.json", "merges.txt", "x.jsonl", "notice", "a.py", "py"}
	for _, r := range fileRules {
		for _, n := range names {
			want, _ := path.Match(r.pattern, n)
			if got := matchBase(r.pattern, n); got != want {
				t.Errorf("matchBase(%q, %q) = %v, path.Match says %v", r.pattern, n, got, want)
			}
		}
	}
}
