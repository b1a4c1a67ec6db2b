//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// cosignRelease is one cosign release the interop tests run, with the
// flags each needs to sign offline (no transparency log).
type cosignRelease struct {
	name string
	bin  func() string
	// keySign signs ref with a key file, offline.
	keySign func(t *testing.T, key, ref string) []string
	// keylessSign signs ref keyless against ss with an identity token.
	keylessSign func(t *testing.T, ss *sigstore, token, ref string) []string
}

// cosignReleases: v3.1.3, which most people run, and v2.6.5, which older
// pipelines still do.
var cosignReleases = []cosignRelease{
	{
		name: "cosign v3.1.3",
		bin:  func() string { return cosign3Bin },
		keySign: func(t *testing.T, key, ref string) []string {
			// v3 refuses --tlog-upload=false: a signing config that names
			// no log and no TSA is how it signs offline.
			return []string{"sign", "--yes", "--allow-http-registry", "--key", key, "--signing-config", emptySigningConfig(t), ref}
		},
		keylessSign: func(t *testing.T, ss *sigstore, token, ref string) []string {
			return []string{"sign", "--yes", "--allow-http-registry", "--signing-config", ss.signingConfig, "--trusted-root", ss.trustedRoot, "--identity-token", token, ref}
		},
	},
	{
		name: "cosign v2.6.5",
		bin:  func() string { return cosignBin },
		keySign: func(t *testing.T, key, ref string) []string {
			return []string{"sign", "--yes", "--allow-http-registry", "--key", key, "--tlog-upload=false", "--new-bundle-format", ref}
		},
		keylessSign: func(t *testing.T, ss *sigstore, token, ref string) []string {
			return []string{"sign", "--yes", "--new-bundle-format", "--allow-http-registry", "--fulcio-url", ss.fulcioURL, "--identity-token", token,
				"--timestamp-server-url", ss.tsaURL, "--tlog-upload=false", "--insecure-skip-verify", ref}
		},
	},
}

// run runs this cosign release with the keys' password set.
func (c cosignRelease) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	requireCosign(t)
	return runCmd(t, cmdOpts{Env: keyEnv}, c.bin(), args...)
}

// keylessVerify is the flags both releases verify a keyless signature
// with, offline against ss.
func keylessVerify(ss *sigstore, identity string) []string {
	return keylessVerifyAgainst(ss, identity, ss.trustedRoot)
}

// keylessVerifyAgainst is keylessVerify with another trusted root.
func keylessVerifyAgainst(ss *sigstore, identity, trustedRoot string) []string {
	return []string{"--certificate-identity", identity, "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", trustedRoot,
		"--insecure-ignore-tlog", "--insecure-ignore-sct", "--use-signed-timestamps", "--allow-http-registry"}
}

// emptySigningConfig names no service: cosign v3 signs with a key alone.
func emptySigningConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "signing_config.json")
	if err := os.WriteFile(p, []byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","rekorTlogConfig":{},"tsaConfig":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Key signatures both ways, with each cosign release, on both kinds of
// registry: cosign verifies vessel's, vessel verifies cosign's.
func TestCosignReleasesKeyInterop(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	_, otherPub := keygen(t, keys, "other")
	for _, r := range remoteRegistries(t) {
		for i, c := range cosignReleases {
			repo := "interop/" + []string{"v3", "v2"}[i]
			ref := r.Ref(repo + ":vessel-signed")
			digest := pushSample(t, ref, "--key", releaseKey)
			if _, stderr, code := c.run(t, "verify", "--key", releasePub, "--insecure-ignore-tlog", "--trusted-root", offlineTrustedRoot(t), "--allow-http-registry", r.Ref(repo+"@"+digest)); code != 0 {
				t.Fatalf("%s, %s: %s verify of vessel's signature: %s", r.Kind, c.name, c.name, stderr)
			}
			if _, _, code := c.run(t, "verify", "--key", otherPub, "--insecure-ignore-tlog", "--trusted-root", offlineTrustedRoot(t), "--allow-http-registry", r.Ref(repo+"@"+digest)); code == 0 {
				t.Fatalf("%s, %s: accepted the wrong key", r.Kind, c.name)
			}

			ref = r.Ref(repo + ":cosign-signed")
			// Other files than the first push: another manifest.
			model := t.TempDir()
			ppCopyTree(t, ppSampleModel(), model)
			ppWriteFile(t, filepath.Join(model, "NOTICE"), []byte(c.name+"\n"))
			digest = pushModelPlain(t, model, ref)
			if _, stderr, code := c.run(t, c.keySign(t, releaseKey, r.Ref(repo+"@"+digest))...); code != 0 {
				t.Fatalf("%s, %s: sign: %s", r.Kind, c.name, stderr)
			}
			if out, stderr, code := vessel(t, "verify", ref, "--key", releasePub); code != 0 {
				t.Fatalf("%s: vessel verify of a %s signature: exit %d\n%s%s", r.Kind, c.name, code, out, stderr)
			}
			if _, _, code := vessel(t, "verify", ref, "--key", otherPub); code != 3 {
				t.Fatalf("%s: vessel accepted a %s signature with the wrong key: exit %d", r.Kind, c.name, code)
			}
		}
	}
}

// pushModelPlain pushes dir unsigned and returns the manifest digest.
func pushModelPlain(t *testing.T, dir, ref string) string {
	t.Helper()
	d, _ := pushModel(t, dir, ref, "")
	return d
}
