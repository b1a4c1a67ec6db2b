package attest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestProvenance(t *testing.T) {
	t.Parallel()
	d := digest.FromString("dataset")
	p, err := Provenance(ProvenanceOptions{
		BuilderID:          "https://ci.example/runner",
		ExternalParameters: map[string]any{"model": "r.example/m:v1"},
		Materials:          []Material{{Name: "dataset", URI: "oci://r.example/d@" + d.String(), Digest: d}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		BuildDefinition struct {
			BuildType            string `json:"buildType"`
			ResolvedDependencies []struct {
				Name   string            `json:"name"`
				Digest map[string]string `json:"digest"`
			} `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
		} `json:"runDetails"`
	}
	if err := json.Unmarshal(p, &got); err != nil {
		t.Fatal(err)
	}
	deps := got.BuildDefinition.ResolvedDependencies
	if got.RunDetails.Builder.ID != "https://ci.example/runner" || got.BuildDefinition.BuildType != DefaultBuildType ||
		len(deps) != 1 || deps[0].Name != "dataset" || deps[0].Digest["sha256"] != d.Encoded() {
		t.Fatalf("provenance: %s", p)
	}
	if _, err := Provenance(ProvenanceOptions{}); err == nil {
		t.Fatal("provenance without a builder id accepted")
	}
	if _, err := Provenance(ProvenanceOptions{BuilderID: "b", Materials: []Material{{Name: "x", Digest: "nope"}}}); err == nil {
		t.Fatal("material with a bad digest accepted")
	}
}

func TestCIProvenance(t *testing.T) {
	t.Parallel()
	gh := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "org/repo",
		"GITHUB_WORKFLOW_REF": "org/repo/.github/workflows/train.yml@refs/heads/main", "GITHUB_RUN_ID": "42",
		"GITHUB_RUN_ATTEMPT": "1", "GITHUB_SHA": "abc", "GITHUB_REF": "refs/heads/main",
	}
	opts, ci := CIProvenance(gh, ProvenanceOptions{})
	if ci != "github-actions" || opts.BuilderID != "https://github.com/org/repo/.github/workflows/train.yml@refs/heads/main" ||
		!strings.HasSuffix(opts.InvocationID, "/runs/42/attempts/1") || opts.ExternalParameters["commit"] != "abc" {
		t.Fatalf("github: %s %+v", ci, opts)
	}
	// An explicit builder id wins.
	if opts, _ := CIProvenance(gh, ProvenanceOptions{BuilderID: "mine"}); opts.BuilderID != "mine" {
		t.Fatalf("builder id overridden: %s", opts.BuilderID)
	}
	gl := map[string]string{"GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.example", "CI_PROJECT_PATH": "g/p",
		"CI_RUNNER_ID": "7", "CI_JOB_URL": "https://gitlab.example/g/p/-/jobs/9", "CI_COMMIT_SHA": "def"}
	if opts, ci := CIProvenance(gl, ProvenanceOptions{}); ci != "gitlab-ci" || opts.BuilderID != "https://gitlab.example/g/p/-/runners/7" || opts.ExternalParameters["commit"] != "def" {
		t.Fatalf("gitlab: %s %+v", ci, opts)
	}
	if _, ci := CIProvenance(map[string]string{}, ProvenanceOptions{}); ci != "" {
		t.Fatalf("no CI detected as %q", ci)
	}
}

func TestVerifyDSSE(t *testing.T) {
	t.Parallel()
	s, key, _ := newCosignKey(t)
	_, other, _ := newCosignKey(t)
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://example.com/eval/v1","subject":[{"name":"m","digest":{"sha256":"` + subject.Encoded() + `"}}],"predicate":{"accuracy":0.9}}`)
	env, err := dsseSign(s, stmt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyDSSE(env, subject, []TrustedSigner{other, key})
	if err != nil || got.PredicateType != "https://example.com/eval/v1" || got.Signer != "release" {
		t.Fatalf("VerifyDSSE: %+v, %v", got, err)
	}
	if _, err := VerifyDSSE(env, subject, []TrustedSigner{other}); err == nil {
		t.Fatal("wrong key accepted")
	}
	if _, err := VerifyDSSE(env, digest.FromString("x"), []TrustedSigner{key}); err == nil {
		t.Fatal("other subject accepted")
	}
	if _, err := VerifyDSSE([]byte("{}"), subject, []TrustedSigner{key}); err == nil {
		t.Fatal("empty envelope accepted")
	}
}
