package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/internal/testutil/sigstoretest"
	"github.com/vessel-oci/vessel/registry"
)

// attachKeyless stores, beside the model ref names, a signature made
// keyless by identity/issuer on ss, as cosign stores one (a bundle
// referrer), with a log entry and a timestamp.
func attachKeyless(t *testing.T, ss *sigstoretest.Sigstore, ref, identity, issuer string) {
	t.Helper()
	ctx := context.Background()
	r, err := registry.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.Open(ctx, r, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	subject, err := repo.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.Statement(subject.Digest, r.Repository, attest.CosignSignPredicate, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := ss.Bundle(t, identity, issuer, st, true, true)
	refr, err := attest.NewReferrer(subject, b, attest.CosignSignPredicate, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, blob := range []struct {
		d ocispec.Descriptor
		c []byte
	}{{refr.ConfigDesc, refr.ConfigDesc.Data}, {refr.BundleDesc, refr.Bundle}} {
		c := blob.c
		if _, err := repo.PushBlob(ctx, blob.d, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(c))), nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.PushManifest(ctx, refr.Desc, refr.Manifest, ""); err != nil {
		t.Fatal(err)
	}
}

// A model signed keyless in CI verifies and pulls with cosign's identity
// flags and a trusted root file, offline; every rule it does not meet is
// exit 3, and a policy file names the same signer.
func TestKeylessVerifyAndPull(t *testing.T) {
	host := testutil.Registry(t, testutil.Olareg, nil)
	ref := host + "/team/m:v1"
	if _, stderr, code := run(t, "push", model(t), ref, "-q"); code != 0 {
		t.Fatalf("push: %s", stderr)
	}
	ss := sigstoretest.New(t)
	const (
		wf  = "https://github.com/org/repo/.github/workflows/train.yml@refs/heads/main"
		iss = "https://token.actions.githubusercontent.com"
	)
	attachKeyless(t, ss, ref, wf, iss)
	dir := t.TempDir()
	testutil.WriteTree(t, dir, map[string]string{
		"private_root.json": string(ss.TrustedRootJSON(t, false)),
		"public_like.json":  string(ss.TrustedRootJSON(t, true)),
		"other_root.json":   string(sigstoretest.New(t).TrustedRootJSON(t, false)),
	})
	tr := filepath.Join(dir, "private_root.json")
	id := func(extra ...string) []string {
		return append([]string{"--certificate-identity", wf, "--certificate-oidc-issuer", iss}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"identity and issuer", id("--trusted-root", tr), exitOK},
		{"identity by regexp", []string{"--certificate-identity-regexp", `^https://github\.com/org/repo/`, "--certificate-oidc-issuer", iss, "--trusted-root", tr}, exitOK},
		{"another repository", []string{"--certificate-identity-regexp", `^https://github\.com/org/other/`, "--certificate-oidc-issuer", iss, "--trusted-root", tr}, exitVerification},
		{"another issuer", []string{"--certificate-identity", wf, "--certificate-oidc-issuer", "https://gitlab.com", "--trusted-root", tr}, exitVerification},
		{"another Sigstore", id("--trusted-root", filepath.Join(dir, "other_root.json")), exitVerification},
		{"a root with CT logs wants an SCT", id("--trusted-root", filepath.Join(dir, "public_like.json")), exitVerification},
		{"SCT waived by name", id("--trusted-root", filepath.Join(dir, "public_like.json"), "--insecure-ignore-sct"), exitOK},
		{"identity without issuer", []string{"--certificate-identity", wf, "--trusted-root", tr}, exitUsage},
		{"trusted root alone", []string{"--trusted-root", tr}, exitUsage},
	} {
		out, stderr, code := run(t, append([]string{"verify", ref}, tc.args...)...)
		if code != tc.want {
			t.Errorf("%s: verify exit %d, want %d\n%s%s", tc.name, code, tc.want, out, stderr)
		}
		if code == exitOK && !strings.Contains(out, "Verdict    verified") {
			t.Errorf("%s: verify says\n%s", tc.name, out)
		}
	}

	dest := filepath.Join(t.TempDir(), "m")
	if _, stderr, code := run(t, append([]string{"pull", ref, dest, "-q", "--cache-dir", t.TempDir()}, id("--trusted-root", tr)...)...); code != exitOK {
		t.Fatalf("pull with identity flags: %s", stderr)
	}
	if got := testutil.Entries(t, dest); len(got) != 3 {
		t.Errorf("pulled %v", got)
	}

	// The same signer in a policy, with a key signer beside it.
	policy := filepath.Join(dir, "policy.yaml")
	testutil.WriteTree(t, dir, map[string]string{"policy.yaml": `version: 1
trustedRoot: private_root.json
scopes:
  - scope: "` + host + `/team/**"
    signers:
      - name: ci
        keyless: {issuer: "` + iss + `", identityRegexp: "^https://github\\.com/org/repo/"}
`})
	out, stderr, code := run(t, "verify", ref, "--policy", policy)
	t.Logf("verify --policy:\n%s", out)
	if code != exitOK || !strings.Contains(out, "signed by ci (keyless "+wf+", issuer "+iss+")") {
		t.Fatalf("verify --policy: exit %d\n%s%s", code, out, stderr)
	}
}
