package attest

import (
	"fmt"
	"sort"
	"strings"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SLSAProvenance is the predicate type of SLSA provenance v1.
const SLSAProvenance = "https://slsa.dev/provenance/v1"

// DefaultBuildType describes a model training or packaging run by vessel.
const DefaultBuildType = "https://github.com/vessel-oci/vessel/buildtypes/model/v1"

// Material is an input of a build: a dataset, a base model.
type Material struct {
	Name   string
	URI    string
	Digest digest.Digest
}

// ProvenanceOptions describe a build for a SLSA v1 provenance predicate.
type ProvenanceOptions struct {
	BuilderID string
	BuildType string // empty: DefaultBuildType
	// ExternalParameters are the build's inputs as the user gave them.
	ExternalParameters map[string]any
	Materials          []Material
	InvocationID       string
	StartedOn          time.Time
	FinishedOn         time.Time
}

// Provenance builds a SLSA provenance v1 predicate (JSON) with the
// in-toto attestation library's types.
func Provenance(opts ProvenanceOptions) ([]byte, error) {
	if opts.BuilderID == "" {
		return nil, fmt.Errorf("provenance: a builder id is required")
	}
	bt := opts.BuildType
	if bt == "" {
		bt = DefaultBuildType
	}
	ext, err := structpb.NewStruct(opts.ExternalParameters)
	if err != nil {
		return nil, fmt.Errorf("provenance: external parameters: %w", err)
	}
	var deps []*intoto.ResourceDescriptor
	for _, m := range opts.Materials {
		if err := m.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("provenance: material %s: %w", m.Name, err)
		}
		deps = append(deps, &intoto.ResourceDescriptor{
			Name: m.Name, Uri: m.URI,
			Digest: map[string]string{m.Digest.Algorithm().String(): m.Digest.Encoded()},
		})
	}
	p := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{BuildType: bt, ExternalParameters: ext, ResolvedDependencies: deps},
		RunDetails:      &slsa.RunDetails{Builder: &slsa.Builder{Id: opts.BuilderID}},
	}
	if opts.InvocationID != "" || !opts.StartedOn.IsZero() || !opts.FinishedOn.IsZero() {
		md := &slsa.BuildMetadata{InvocationId: opts.InvocationID}
		if !opts.StartedOn.IsZero() {
			md.StartedOn = timestamppb.New(opts.StartedOn)
		}
		if !opts.FinishedOn.IsZero() {
			md.FinishedOn = timestamppb.New(opts.FinishedOn)
		}
		p.RunDetails.Metadata = md
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return protojson.Marshal(p)
}

// CIProvenance fills builder id, invocation and parameters from a CI
// environment (GitHub Actions or GitLab CI variables, passed in by the
// caller), leaving what opts already has. It reports which CI it found.
func CIProvenance(env map[string]string, opts ProvenanceOptions) (ProvenanceOptions, string) {
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	params := map[string]any{}
	for k, v := range opts.ExternalParameters {
		params[k] = v
	}
	ci := ""
	switch {
	case env["GITHUB_ACTIONS"] == "true":
		ci = "github-actions"
		server := env["GITHUB_SERVER_URL"]
		set(&opts.BuilderID, server+"/"+env["GITHUB_WORKFLOW_REF"])
		set(&opts.InvocationID, fmt.Sprintf("%s/%s/actions/runs/%s/attempts/%s", server, env["GITHUB_REPOSITORY"], env["GITHUB_RUN_ID"], env["GITHUB_RUN_ATTEMPT"]))
		params["repository"] = server + "/" + env["GITHUB_REPOSITORY"]
		params["ref"] = env["GITHUB_REF"]
		params["commit"] = env["GITHUB_SHA"]
		params["workflow"] = env["GITHUB_WORKFLOW_REF"]
	case env["GITLAB_CI"] == "true":
		ci = "gitlab-ci"
		set(&opts.BuilderID, env["CI_SERVER_URL"]+"/"+env["CI_PROJECT_PATH"]+"/-/runners/"+env["CI_RUNNER_ID"])
		set(&opts.InvocationID, env["CI_JOB_URL"])
		params["repository"] = env["CI_PROJECT_URL"]
		params["ref"] = env["CI_COMMIT_REF_NAME"]
		params["commit"] = env["CI_COMMIT_SHA"]
		params["pipeline"] = env["CI_PIPELINE_URL"]
	}
	for k, v := range params {
		if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
			delete(params, k)
		}
	}
	opts.ExternalParameters = params
	return opts, ci
}

// SortMaterials orders materials by name, so provenance is stable.
func SortMaterials(ms []Material) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
}
