package server

import "testing"

func TestRepoName(t *testing.T) {
	for path, want := range map[string]string{
		"/v2/":                          "",
		"/v2/m/blobs/uploads/":          "m",
		"/v2/team/llama/manifests/v1":   "team/llama",
		"/v2/a/blobs/b/blobs/sha256:00": "a/blobs/b",
		"/v2/x/referrers/sha256:00":     "x",
		"/v2/x/y/tags/list":             "x/y",
		"/v3/x/manifests/v1":            "",
	} {
		if got := repoName(path); got != want {
			t.Errorf("repoName(%q) = %q, want %q", path, got, want)
		}
	}
}
