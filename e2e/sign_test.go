//go:build e2e

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keyEnv is the password every key in these tests is encrypted with.
var keyEnv = []string{"VESSEL_PASSWORD=pw", "COSIGN_PASSWORD=pw"}

func vessel(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCmd(t, cmdOpts{Env: keyEnv}, vesselBin, args...)
}

func cosign(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	requireCosign(t)
	return runCmd(t, cmdOpts{Env: keyEnv}, cosignBin, args...)
}

// keygen makes PREFIX.key/PREFIX.pub with `vessel keygen` in dir.
func keygen(t *testing.T, dir, prefix string) (priv, pub string) {
	t.Helper()
	p := filepath.Join(dir, prefix)
	if _, stderr, code := vessel(t, "keygen", "--output-key-prefix", p); code != 0 {
		t.Fatalf("keygen: %s", stderr)
	}
	return p + ".key", p + ".pub"
}

// offlineTrustedRoot is an empty trusted root: with --key and
// --insecure-ignore-tlog it lets cosign verify without any network.
func offlineTrustedRoot(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(p, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func cosignVerify(t *testing.T, pub, ref string) (string, int) {
	t.Helper()
	_, stderr, code := cosign(t, "verify", "--key", pub, "--insecure-ignore-tlog", "--trusted-root", offlineTrustedRoot(t), "--allow-http-registry", ref)
	return stderr, code
}

func pushSample(t *testing.T, ref string, extra ...string) string {
	t.Helper()
	out, stderr, code := vessel(t, append([]string{"push", filepath.Join(repoRoot, "hack", "sample-model"), ref, "-q"}, extra...)...)
	if code != 0 {
		t.Fatalf("push %s: %s", ref, stderr)
	}
	return strings.TrimSpace(out)
}

// tamperSampleWeights flips a byte in the middle of the sample model's
// weights as r stores them for repo.
func tamperSampleWeights(t *testing.T, r *Registry, repo string) {
	t.Helper()
	weights, err := fileSHA256(filepath.Join(repoRoot, "hack", "sample-model", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	blob := r.BlobPath(repo, "sha256:"+weights)
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func remoteRegistries(t *testing.T) []*Registry {
	return []*Registry{startVesselRegistry(t), startDistribution(t)}
}

func TestSignVerifyPull(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	otherKey, otherPub := keygen(t, keys, "other")
	layout := "oci:" + filepath.Join(t.TempDir(), "layout")
	refs := []string{layout + ":v1"}
	for _, r := range remoteRegistries(t) {
		refs = append(refs, r.Ref("team/model:v1"))
	}
	for _, ref := range refs {
		pushSample(t, ref, "--key", releaseKey)

		out, stderr, code := vessel(t, "verify", ref, "--key", releasePub)
		if code != 0 || !strings.Contains(out, "Verdict    verified") || !strings.Contains(out, "signed by") {
			t.Fatalf("%s: verify: exit %d\n%s%s", ref, code, out, stderr)
		}
		out, _, code = vessel(t, "verify", ref, "--key", otherPub, "-o", "json")
		var v struct {
			Verified   bool `json:"verified"`
			Signatures []struct {
				Error string `json:"error"`
			} `json:"signatures"`
		}
		if code != 3 || json.Unmarshal([]byte(out), &v) != nil || v.Verified || len(v.Signatures) != 1 || v.Signatures[0].Error == "" {
			t.Fatalf("%s: verify with the wrong key: exit %d\n%s", ref, code, out)
		}

		parent := t.TempDir()
		dest := filepath.Join(parent, "m")
		if _, stderr, code := vessel(t, "pull", ref, dest, "--key", releasePub, "-q"); code != 0 {
			t.Fatalf("%s: pull --key: %s", ref, stderr)
		}
		if got, want := hashTree(t, dest), hashTree(t, filepath.Join(repoRoot, "hack", "sample-model")); len(got) != len(want) {
			t.Fatalf("%s: pulled %v, want %v", ref, got, want)
		}
		refused := filepath.Join(parent, "refused")
		if _, stderr, code := vessel(t, "pull", ref, refused, "--key", otherPub); code != 3 || !strings.Contains(stderr, "not trusted") {
			t.Fatalf("%s: pull with the wrong key: exit %d: %s", ref, code, stderr)
		}
		if _, stderr, code := vessel(t, "pull", ref, refused); code != 2 || !strings.Contains(stderr, "--insecure-skip-verify") {
			t.Fatalf("%s: pull without trust: exit %d: %s", ref, code, stderr)
		}
		assertNoEntries(t, refused)

		// Two signers required: the other key's signature makes it pass.
		policy := filepath.Join(keys, "policy.yaml")
		doc := "version: 1\nscopes:\n  - scope: \"**\"\n    threshold: 2\n    signers:\n      - {name: release, key: release.pub}\n      - {name: other, key: other.pub}\n"
		if err := os.WriteFile(policy, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, code := vessel(t, "verify", ref, "--policy", policy); code != 3 {
			t.Fatalf("%s: threshold 2 with one signer: exit %d", ref, code)
		}
		if _, stderr, code := vessel(t, "sign", ref, "--key", otherKey); code != 0 {
			t.Fatalf("%s: sign: %s", ref, stderr)
		}
		if out, stderr, code := vessel(t, "verify", ref, "--policy", policy); code != 0 {
			t.Fatalf("%s: threshold 2 with two signers: exit %d\n%s%s", ref, code, out, stderr)
		}
	}
}

func TestCosignVerifiesVesselSignatures(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	_, otherPub := keygen(t, keys, "other")
	// A plain PKCS#8 key works too.
	plainKey, plainPub := plainECKey(t, keys)
	for _, r := range remoteRegistries(t) {
		for _, k := range []struct{ priv, pub string }{{releaseKey, releasePub}, {plainKey, plainPub}} {
			repo := "team/" + strings.TrimSuffix(filepath.Base(k.priv), filepath.Ext(k.priv))
			digest := pushSample(t, r.Ref(repo+":v1"), "--key", k.priv)
			byDigest := r.Ref(repo + "@" + digest)
			if stderr, code := cosignVerify(t, k.pub, byDigest); code != 0 {
				t.Fatalf("%s (referrers API %v): cosign verify rejected vessel's signature: %s", r.Kind, r.ReferrersAPI, stderr)
			}
			if _, code := cosignVerify(t, otherPub, byDigest); code == 0 {
				t.Fatalf("%s: cosign verify accepted the wrong key", r.Kind)
			}
		}
	}
}

func TestVesselVerifiesCosignSignatures(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	_, otherPub := keygen(t, keys, "other")
	for _, r := range remoteRegistries(t) {
		for _, format := range []struct {
			name  string
			flags []string
		}{
			{"bundle", []string{"--new-bundle-format"}},
			{"classic", []string{"--new-bundle-format=false"}},
		} {
			ref := r.Ref("cosigned/" + format.name + ":v1")
			digest := pushSample(t, ref)
			args := append([]string{"sign", "--key", releaseKey, "--tlog-upload=false", "--allow-http-registry", "-y"}, format.flags...)
			if _, stderr, code := cosign(t, append(args, r.Ref("cosigned/"+format.name+"@"+digest))...); code != 0 {
				t.Fatalf("%s: cosign sign (%s): %s", r.Kind, format.name, stderr)
			}
			out, stderr, code := vessel(t, "verify", ref, "--key", releasePub)
			if code != 0 {
				t.Fatalf("%s: vessel verify of a cosign %s signature: exit %d\n%s%s", r.Kind, format.name, code, out, stderr)
			}
			wantSource := map[string]string{"bundle": "referrer", "classic": "classic"}[format.name]
			if !strings.Contains(out, "ok       "+wantSource) {
				t.Fatalf("%s: %s signature not reported as %s:\n%s", r.Kind, format.name, wantSource, out)
			}
			if _, _, code := vessel(t, "verify", ref, "--key", otherPub); code != 3 {
				t.Fatalf("%s: vessel accepted a cosign %s signature with the wrong key", r.Kind, format.name)
			}
			dest := filepath.Join(t.TempDir(), "m")
			if _, stderr, code := vessel(t, "pull", ref, dest, "--key", releasePub, "-q"); code != 0 {
				t.Fatalf("%s: pull of a cosign-signed (%s) model: %s", r.Kind, format.name, stderr)
			}
		}
	}
}

// plainECKey writes an unencrypted PKCS#8 P-256 key pair.
func plainECKey(t *testing.T, dir string) (priv, pub string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	priv, pub = filepath.Join(dir, "plain.key"), filepath.Join(dir, "plain.pub")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}
