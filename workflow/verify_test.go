package workflow_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/oms"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

type keypair struct {
	signer  *attest.KeySigner
	trusted attest.TrustedSigner
}

func newKey(t *testing.T, name string) keypair {
	t.Helper()
	priv, pub, err := attest.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attest.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return keypair{signer: s, trusted: attest.TrustedSigner{Name: name, Key: v}}
}

func keyPolicy(keys ...keypair) *attest.Policy {
	var tk []attest.TrustedSigner
	for _, k := range keys {
		tk = append(tk, k.trusted)
	}
	return attest.KeyPolicy(tk)
}

func TestSignVerifyPullEverywhere(t *testing.T) {
	ctx := context.Background()
	release, other := newKey(t, "release"), newKey(t, "other")
	src := writeModel(t)
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			if _, err := workflow.Push(ctx, tg.open(t, "x/m:v1"), src, workflow.PushOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := workflow.Sign(ctx, tg.open(t, "x/m:v1"), release.signer); err != nil {
				t.Fatal(err)
			}
			v, err := workflow.Verify(ctx, tg.open(t, "x/m:v1"), keyPolicy(release))
			if err != nil || !v.Verified || len(v.Signers) != 1 || v.Signers[0] != "release" {
				t.Fatalf("verify: %+v, %v", v, err)
			}
			if _, err := workflow.Verify(ctx, tg.open(t, "x/m:v1"), keyPolicy(other)); !errors.Is(err, errdef.ErrUntrusted) || !errors.Is(err, errdef.ErrVerification) {
				t.Fatalf("verify with an untrusted key: %v", err)
			}
			dest := filepath.Join(t.TempDir(), "m")
			if _, err := workflow.Pull(ctx, tg.open(t, "x/m:v1"), dest, workflow.PullOptions{Policy: keyPolicy(release)}); err != nil {
				t.Fatal(err)
			}
			assertSameTree(t, src, dest)
			refused := filepath.Join(t.TempDir(), "m")
			_, err = workflow.Pull(ctx, tg.open(t, "x/m:v1"), refused, workflow.PullOptions{Policy: keyPolicy(other)})
			if !errors.Is(err, errdef.ErrUntrusted) {
				t.Fatalf("pull with an untrusted key: %v", err)
			}
			if _, err := os.Stat(refused); !os.IsNotExist(err) {
				t.Fatal("refused pull wrote the destination")
			}
		})
	}
}

func TestVerifyThreshold(t *testing.T) {
	ctx := context.Background()
	a, b := newKey(t, "a"), newKey(t, "b")
	tg := targets(t)[0]
	if _, err := workflow.Push(ctx, tg.open(t, "x/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	policy := keyPolicy(a, b)
	policy.Scopes[0].Threshold = 2
	// Signing twice with the same key (ECDSA signatures differ, so two
	// referrers) is still one signer.
	for i := 0; i < 2; i++ {
		if _, err := workflow.Sign(ctx, tg.open(t, "x/m:v1"), a.signer); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := workflow.Verify(ctx, tg.open(t, "x/m:v1"), policy); !errors.Is(err, errdef.ErrUntrusted) || len(v.Signers) != 1 {
		t.Fatalf("one of two signers: %+v, %v", v, err)
	}
	if _, err := workflow.Sign(ctx, tg.open(t, "x/m:v1"), b.signer); err != nil {
		t.Fatal(err)
	}
	if v, err := workflow.Verify(ctx, tg.open(t, "x/m:v1"), policy); err != nil || len(v.Signers) != 2 {
		t.Fatalf("two of two signers: %+v, %v", v, err)
	}
}

// CNCF Distribution refuses DELETE unless configured to allow it; signing
// on the referrers tag schema replaces the tagged index and must not need
// to delete the old one.
func TestSignWhereDeletesAreRefused(t *testing.T) {
	ctx := context.Background()
	a, b := newKey(t, "a"), newKey(t, "b")
	var deletes atomic.Int64
	host := testutil.Registry(t, testutil.NoReferrersAPI, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				deletes.Add(1)
				http.Error(w, `{"errors":[{"code":"UNSUPPORTED"}]}`, http.StatusMethodNotAllowed)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	if _, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []keypair{a, b} {
		if _, err := workflow.Sign(ctx, open(t, host+"/x/m:v1"), k.signer); err != nil {
			t.Fatalf("sign with %s: %v", k.trusted.Name, err)
		}
	}
	policy := keyPolicy(a, b)
	policy.Scopes[0].Threshold = 2
	if v, err := workflow.Verify(ctx, open(t, host+"/x/m:v1"), policy); err != nil || len(v.Signers) != 2 {
		t.Fatalf("verify both signatures: %+v, %v", v, err)
	}
	if deletes.Load() != 0 {
		t.Errorf("%d DELETE requests", deletes.Load())
	}
}

// pushReferrer stores a hand-made bundle referrer whose manifest claims subject.
func pushReferrer(t *testing.T, repo *registry.Repository, subject ocispec.Descriptor, bundle []byte, predicateType string) {
	t.Helper()
	ref, err := attest.NewReferrer(subject, bundle, predicateType, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, b := range []struct {
		d ocispec.Descriptor
		c []byte
	}{{ref.ConfigDesc, ref.ConfigDesc.Data}, {ref.BundleDesc, ref.Bundle}} {
		c := b.c
		if _, err := repo.PushBlob(ctx, b.d, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(c))), nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.PushManifest(ctx, ref.Desc, ref.Manifest, ""); err != nil {
		t.Fatal(err)
	}
}

func resolve(t *testing.T, repo *registry.Repository) ocispec.Descriptor {
	t.Helper()
	d, err := repo.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestVerifyRefusals(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	tg := targets(t)[0]
	a, b := writeModel(t), writeModel(t)
	writeFile(t, b, "extra.txt", "b is different")
	if _, err := workflow.Push(ctx, tg.open(t, "x/a:v1"), a, workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Push(ctx, tg.open(t, "x/b:v1"), b, workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	descA, descB := resolve(t, tg.open(t, "x/a:v1")), resolve(t, tg.open(t, "x/b:v1"))
	stmtA, _ := attest.Statement(descA.Digest, "", attest.CosignSignPredicate, nil)
	bundleA, err := attest.SignStatement(ctx, release.signer, stmtA)
	if err != nil {
		t.Fatal(err)
	}
	// A's genuine signature, attached to B: the statement is about A.
	pushReferrer(t, tg.open(t, "x/b:v1"), descB, bundleA, attest.CosignSignPredicate)
	v, err := workflow.Verify(ctx, tg.open(t, "x/b:v1"), keyPolicy(release))
	if !errors.Is(err, errdef.ErrUntrusted) || len(v.Signatures) != 1 || !strings.Contains(v.Signatures[0].Error, errdef.ErrSubjectMismatch.Error()) {
		t.Fatalf("signature over another digest: %+v, %v", v, err)
	}

	// A corrupted bundle: the signature bytes flipped.
	var bm map[string]any
	_ = json.Unmarshal(bundleA, &bm)
	env := bm["dsseEnvelope"].(map[string]any)
	sigs := env["signatures"].([]any)
	sig := sigs[0].(map[string]any)
	raw, _ := base64.StdEncoding.DecodeString(sig["sig"].(string))
	raw[len(raw)/2] ^= 0xff
	sig["sig"] = base64.StdEncoding.EncodeToString(raw)
	corrupt, _ := json.Marshal(bm)
	if _, err := workflow.Push(ctx, tg.open(t, "x/c:v1"), a, workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	pushReferrer(t, tg.open(t, "x/c:v1"), descA, corrupt, attest.CosignSignPredicate)
	v, err = workflow.Verify(ctx, tg.open(t, "x/c:v1"), keyPolicy(release))
	if !errors.Is(err, errdef.ErrUntrusted) || len(v.Signatures) != 1 || !strings.Contains(v.Signatures[0].Error, errdef.ErrBadSignature.Error()) {
		t.Fatalf("corrupted bundle: %+v, %v", v, err)
	}

	// A policy scope that rejects the repository.
	policy, err := attest.ParsePolicy([]byte("version: 1\nscopes:\n  - scope: \"**\"\n    reject: true\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Verify(ctx, tg.open(t, "x/a:v1"), policy); !errors.Is(err, errdef.ErrUntrusted) {
		t.Fatalf("reject scope: %v", err)
	}
}

// On a registry without the referrers API the index is a tag anyone with
// push rights can write: an entry that points at another model's
// signature must not count.
func TestVerifyLyingReferrersIndex(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	var tg target
	for _, x := range targets(t) {
		if x.name == "ggcr-no-referrers" {
			tg = x
		}
	}
	a, b := writeModel(t), writeModel(t)
	writeFile(t, b, "extra.txt", "b")
	for repo, dir := range map[string]string{"x/a:v1": a, "x/b:v1": b} {
		if _, err := workflow.Push(ctx, tg.open(t, repo), dir, workflow.PushOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := workflow.Sign(ctx, tg.open(t, "x/a:v1"), release.signer)
	if err != nil {
		t.Fatal(err)
	}
	descB := resolve(t, tg.open(t, "x/b:v1"))
	// Write B's fallback index by hand, listing A's signature manifest.
	repoB := tg.open(t, "x/b:v1")
	sigDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: attest.BundleMediaType, Digest: signed.Signature}
	sigManifest, err := tg.open(t, "x/a:v1").FetchManifest(ctx, withSize(t, tg.open(t, "x/a:v1"), sigDesc))
	if err != nil {
		t.Fatal(err)
	}
	sigDesc.Size = int64(len(sigManifest))
	if err := repoB.PushManifest(ctx, sigDesc, sigManifest, ""); err != nil {
		t.Fatal(err)
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{sigDesc}}
	data, _ := json.Marshal(idx)
	idxDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := repoB.PushManifest(ctx, idxDesc, data, "sha256-"+descB.Digest.Encoded()); err != nil {
		t.Fatal(err)
	}
	v, err := workflow.Verify(ctx, tg.open(t, "x/b:v1"), keyPolicy(release))
	if !errors.Is(err, errdef.ErrUntrusted) || len(v.Signatures) != 1 || !strings.Contains(v.Signatures[0].Error, "subject") {
		t.Fatalf("lying index: %+v, %v", v, err)
	}
}

// referrerBundle fetches the bundle layer of the referrer manifest d.
func referrerBundle(t *testing.T, repo *registry.Repository, d digest.Digest) []byte {
	t.Helper()
	data, err := repo.FetchManifest(context.Background(), withSize(t, repo, ocispec.Descriptor{Digest: d}))
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("referrer %s: %v", d, err)
	}
	b, err := repo.FetchCapped(context.Background(), m.Layers[0], oms.MaxBundleSize)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withSize fills in a descriptor's size by resolving it.
func withSize(t *testing.T, repo *registry.Repository, d ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	got, err := repo.Pinned(d.Digest).Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestVerifyClassicSignature(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			res, err := workflow.Push(ctx, tg.open(t, "x/m:v1"), writeModel(t), workflow.PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			payload := []byte(`{"critical":{"identity":{"docker-reference":"x/m"},"image":{"docker-manifest-digest":"` + res.Digest.String() + `"},"type":"cosign container image signature"},"optional":null}`)
			sig, err := release.signer.SignMessage(strings.NewReader(string(payload)))
			if err != nil {
				t.Fatal(err)
			}
			layer := ocispec.Descriptor{MediaType: attest.SimpleSigningMediaType, Digest: digest.FromBytes(payload), Size: int64(len(payload)),
				Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)}}
			repo := tg.open(t, "x/m:v1")
			repo.Ref.Tag = attest.ClassicTag(res.Digest)
			pushManifest(t, repo, "", "application/vnd.oci.image.config.v1+json", []ocispec.Descriptor{layer}, [][]byte{payload})
			v, err := workflow.Verify(ctx, tg.open(t, "x/m:v1"), keyPolicy(release))
			if err != nil || len(v.Signatures) != 1 || v.Signatures[0].Source != "classic" {
				t.Fatalf("classic: %+v, %v", v, err)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAttestations(t *testing.T) {
	ctx := context.Background()
	release, other := newKey(t, "release"), newKey(t, "other")
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			if _, err := workflow.Push(ctx, tg.open(t, "x/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := workflow.Sign(ctx, tg.open(t, "x/m:v1"), release.signer); err != nil {
				t.Fatal(err)
			}
			for typ, pred := range map[string]string{
				"https://slsa.dev/provenance/v1": `{"buildDefinition":{"buildType":"t"},"runDetails":{"builder":{"id":"b"}}}`,
				"https://example.com/eval/v1":    `{"accuracy":0.9}`,
			} {
				if _, err := workflow.Attest(ctx, tg.open(t, "x/m:v1"), release.signer, typ, json.RawMessage(pred)); err != nil {
					t.Fatal(err)
				}
			}
			// An attestation by an untrusted key is refused, not listed.
			if _, err := workflow.Attest(ctx, tg.open(t, "x/m:v1"), other.signer, "https://example.com/eval/v1", json.RawMessage(`{"accuracy":1}`)); err != nil {
				t.Fatal(err)
			}
			list, err := workflow.Attestations(ctx, tg.open(t, "x/m:v1"), keyPolicy(release), "")
			if err != nil {
				t.Fatal(err)
			}
			// Sign also stored an OpenSSF model signature: an attestation too.
			types := map[string]bool{}
			for _, a := range list.Attestations {
				types[a.PredicateType] = true
			}
			if len(list.Attestations) != 3 || !types[oms.PredicateType] || len(list.Refused) != 1 {
				t.Fatalf("attestations: %d listed, %d refused: %+v", len(list.Attestations), len(list.Refused), list)
			}
			list, err = workflow.Attestations(ctx, tg.open(t, "x/m:v1"), keyPolicy(release), "https://example.com/eval/v1")
			if err != nil || len(list.Attestations) != 1 || !strings.Contains(string(list.Attestations[0].Statement), `"accuracy":0.9`) {
				t.Fatalf("filtered: %+v, %v", list, err)
			}
			// Attestations are not signatures: one signer still.
			v, err := workflow.Verify(ctx, tg.open(t, "x/m:v1"), keyPolicy(release))
			if err != nil || len(v.Signatures) != 1 {
				t.Fatalf("verify counts attestations as signatures: %+v, %v", v, err)
			}
		})
	}
}

func TestPolicyRequiresAttestations(t *testing.T) {
	ctx := context.Background()
	release, ci := newKey(t, "release"), newKey(t, "ci")
	dir := t.TempDir()
	for name, k := range map[string]keypair{"release.pub": release, "ci.pub": ci} {
		pub, _ := k.signer.PublicKey()
		pemBytes, _ := cryptoutils.MarshalPublicKeyToPEM(pub)
		writeFile(t, dir, name, string(pemBytes))
	}
	policy, err := attest.ParsePolicy([]byte(`
version: 1
scopes:
  - scope: "**"
    signers: [{name: release, key: release.pub}]
    attestations:
      - type: https://slsa.dev/provenance/v1
        signers: [{name: ci, key: ci.pub}]
        checks: [{path: runDetails.builder.id, equals: "https://ci.example/runner"}]
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	tg := targets(t)[0]
	if _, err := workflow.Push(ctx, tg.open(t, "x/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	// The CI key's signature does not count: it is trusted for provenance only.
	if _, err := workflow.Sign(ctx, tg.open(t, "x/m:v1"), ci.signer); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Verify(ctx, tg.open(t, "x/m:v1"), policy); !errors.Is(err, errdef.ErrUntrusted) {
		t.Fatalf("signed by an attestation-only key: %v", err)
	}
	if _, err := workflow.Sign(ctx, tg.open(t, "x/m:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	// Signed, but no provenance yet: an attestation of another type, by the
	// right key, does not stand in for it.
	if _, err := workflow.Attest(ctx, tg.open(t, "x/m:v1"), ci.signer, "https://example.com/eval/v1", json.RawMessage(`{"runDetails":{"builder":{"id":"https://ci.example/runner"}}}`)); err != nil {
		t.Fatal(err)
	}
	v, err := workflow.Verify(ctx, tg.open(t, "x/m:v1"), policy)
	if !errors.Is(err, errdef.ErrUntrusted) || len(v.Attestations) != 1 || v.Attestations[0].Satisfied {
		t.Fatalf("missing provenance: %+v, %v", v, err)
	}
	dest := filepath.Join(t.TempDir(), "m")
	if _, err := workflow.Pull(ctx, tg.open(t, "x/m:v1"), dest, workflow.PullOptions{Policy: policy}); !errors.Is(err, errdef.ErrUntrusted) {
		t.Fatalf("pull without provenance: %v", err)
	}
	prov := func(builder string) json.RawMessage {
		return json.RawMessage(`{"buildDefinition":{"buildType":"t"},"runDetails":{"builder":{"id":"` + builder + `"}}}`)
	}
	// Provenance from the right key with the wrong builder, and from the wrong key.
	if _, err := workflow.Attest(ctx, tg.open(t, "x/m:v1"), ci.signer, attest.SLSAProvenance, prov("https://evil.example/")); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Attest(ctx, tg.open(t, "x/m:v1"), release.signer, attest.SLSAProvenance, prov("https://ci.example/runner")); err != nil {
		t.Fatal(err)
	}
	if v, err := workflow.Verify(ctx, tg.open(t, "x/m:v1"), policy); !errors.Is(err, errdef.ErrUntrusted) || v.Attestations[0].Satisfied {
		t.Fatalf("provenance failing its checks: %+v, %v", v, err)
	}
	if _, err := workflow.Attest(ctx, tg.open(t, "x/m:v1"), ci.signer, attest.SLSAProvenance, prov("https://ci.example/runner")); err != nil {
		t.Fatal(err)
	}
	v, err = workflow.Verify(ctx, tg.open(t, "x/m:v1"), policy)
	if err != nil || !v.Attestations[0].Satisfied || v.Attestations[0].By != "ci" {
		t.Fatalf("good provenance: %+v, %v", v, err)
	}
	if _, err := workflow.Pull(ctx, tg.open(t, "x/m:v1"), dest, workflow.PullOptions{Policy: policy}); err != nil {
		t.Fatal(err)
	}
}

func TestOMSSignatureTravelsWithTheModel(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			src := writeModel(t)
			if _, err := workflow.Push(ctx, tg.open(t, "x/m:v1"), src, workflow.PushOptions{}); err != nil {
				t.Fatal(err)
			}
			res, err := workflow.Sign(ctx, tg.open(t, "x/m:v1"), release.signer)
			if err != nil || res.OMS == "" {
				t.Fatalf("sign stored no OMS signature: %+v, %v", res, err)
			}
			dest := filepath.Join(t.TempDir(), "m")
			sigPath := filepath.Join(dest, "model.sig")
			pres, err := workflow.Pull(ctx, tg.open(t, "x/m:v1"), dest, workflow.PullOptions{
				Policy: keyPolicy(release), SignaturePath: sigPath,
			})
			if err != nil || pres.Signature != sigPath || pres.Verification.OMS == nil {
				t.Fatalf("pull --signature: %+v, %v", pres, err)
			}
			// The unpacked directory verifies on its own, as model_signing would check it.
			sig, err := os.ReadFile(sigPath)
			if err != nil {
				t.Fatal(err)
			}
			vr, err := oms.Verify(ctx, dest, sig, oms.SignerVerifier(release.trusted), oms.VerifyOptions{SignaturePath: sigPath})
			if err != nil || vr.Files != len(sampleModel) {
				t.Fatalf("verify-dir of the pulled model: %+v, %v", vr, err)
			}
			writeFile(t, dest, "README.md", "changed after the pull")
			if _, err := oms.Verify(ctx, dest, sig, oms.SignerVerifier(release.trusted), oms.VerifyOptions{SignaturePath: sigPath}); !errors.Is(err, errdef.ErrModelMismatch) {
				t.Fatalf("changed file: %v", err)
			}
			// Outside the destination too.
			outside := filepath.Join(t.TempDir(), "sigs", "m.sig")
			if _, err := workflow.Pull(ctx, tg.open(t, "x/m:v1"), filepath.Join(t.TempDir(), "m2"), workflow.PullOptions{
				Policy: keyPolicy(release), SignaturePath: outside,
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(outside); err != nil {
				t.Fatal(err)
			}
			// No verification: --signature cannot be honoured, nothing written.
			none := filepath.Join(t.TempDir(), "m3")
			if _, err := workflow.Pull(ctx, tg.open(t, "x/m:v1"), none, workflow.PullOptions{InsecureSkipVerify: true, SignaturePath: filepath.Join(none, "model.sig")}); !errors.Is(err, errdef.ErrUntrusted) {
				t.Fatalf("--signature without verification: %v", err)
			}
			if _, err := os.Stat(none); !os.IsNotExist(err) {
				t.Fatal("destination written")
			}
		})
	}
}

func TestOMSSignatureMismatchRefused(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	tg := targets(t)[0]
	a, b := writeModel(t), writeModel(t)
	writeFile(t, b, "README.md", "B differs")
	if _, err := workflow.Push(ctx, tg.open(t, "x/a:v1"), a, workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Push(ctx, tg.open(t, "x/b:v1"), b, workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	// A's OMS signature (trusted key, valid signature) attached to B.
	resA, err := workflow.Sign(ctx, tg.open(t, "x/a:v1"), release.signer)
	if err != nil {
		t.Fatal(err)
	}
	bundle := referrerBundle(t, tg.open(t, "x/a:v1"), resA.OMS)
	if _, err := workflow.Sign(ctx, tg.open(t, "x/b:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	pushReferrer(t, tg.open(t, "x/b:v1"), resolve(t, tg.open(t, "x/b:v1")), bundle, oms.PredicateType)
	dest := filepath.Join(t.TempDir(), "b")
	_, err = workflow.Pull(ctx, tg.open(t, "x/b:v1"), dest, workflow.PullOptions{Policy: keyPolicy(release)})
	if !errors.Is(err, errdef.ErrModelMismatch) || !errors.Is(err, errdef.ErrVerification) || !strings.Contains(err.Error(), "README.md") {
		t.Fatalf("OMS signature of another model: %v", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatal("destination written")
	}
}

// tgz returns a tar+gzip layer blob holding files.
func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pushTarModel pushes a ModelPack model made of one raw weight and one
// tar+gzip layer of tokenizer files.
func pushTarModel(t *testing.T, repo *registry.Repository, tok map[string]string) {
	t.Helper()
	blob := tgz(t, tok)
	layers := []ocispec.Descriptor{
		rawLayer("model.bin", "weights", "application/vnd.cncf.model.weight.v1.raw"),
		{MediaType: "application/vnd.cncf.model.weight.config.v1.tar+gzip", Digest: digest.FromBytes(blob), Size: int64(len(blob)),
			Annotations: map[string]string{"org.cncf.model.filepath": "tokenizer"}},
	}
	pushManifest(t, repo, "application/vnd.cncf.model.manifest.v1+json", "application/vnd.oci.empty.v1+json", layers, [][]byte{[]byte("weights"), blob})
}

func TestOMSWithTarLayers(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	tg := targets(t)[0]
	tok := map[string]string{"tokenizer/vocab.json": `{"a":1}`, "tokenizer/merges.txt": "a b"}
	pushTarModel(t, tg.open(t, "x/tar:v1"), tok)
	res, err := workflow.Sign(ctx, tg.open(t, "x/tar:v1"), release.signer)
	if err != nil || res.OMS == "" {
		t.Fatalf("sign: %+v, %v", res, err)
	}
	dest := filepath.Join(t.TempDir(), "m")
	sig := filepath.Join(dest, "model.sig")
	if _, err := workflow.Pull(ctx, tg.open(t, "x/tar:v1"), dest, workflow.PullOptions{Policy: keyPolicy(release), SignaturePath: sig}); err != nil {
		t.Fatal(err)
	}
	bundle, _ := os.ReadFile(sig)
	if vr, err := oms.Verify(ctx, dest, bundle, oms.SignerVerifier(release.trusted), oms.VerifyOptions{SignaturePath: sig}); err != nil || vr.Files != 3 {
		t.Fatalf("verify-dir: %+v, %v", vr, err)
	}

	// The same OMS signature attached to a model whose tar layer differs:
	// caught after unpacking, before anything is moved into place.
	tok["tokenizer/vocab.json"] = `{"a":2}`
	pushTarModel(t, tg.open(t, "x/evil:v1"), tok)
	omsBundle := referrerBundle(t, tg.open(t, "x/tar:v1"), res.OMS)
	if _, err := workflow.Sign(ctx, tg.open(t, "x/evil:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	// The stolen bundle joins evil's own, genuine OMS signature.
	pushReferrer(t, tg.open(t, "x/evil:v1"), resolve(t, tg.open(t, "x/evil:v1")), omsBundle, oms.PredicateType)
	parent := t.TempDir()
	_, err = workflow.Pull(ctx, tg.open(t, "x/evil:v1"), filepath.Join(parent, "m"), workflow.PullOptions{Policy: keyPolicy(release)})
	if !errors.Is(err, errdef.ErrModelMismatch) || !strings.Contains(err.Error(), "vocab.json") {
		t.Fatalf("mismatching tar content: %v", err)
	}
	if got, _ := os.ReadDir(parent); len(got) != 0 {
		t.Fatalf("pull left %v", got)
	}
}

// A tar layer that leaves out a signed file and adds an unsigned one is
// refused naming both, whichever trusted OMS signature lists them.
func TestOMSTarLayerFilesMissingAndExtra(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	tg := targets(t)[0]
	pushTarModel(t, tg.open(t, "x/tar:v1"), map[string]string{"tokenizer/vocab.json": `{"a":1}`, "tokenizer/merges.txt": "a b"})
	res, err := workflow.Sign(ctx, tg.open(t, "x/tar:v1"), release.signer)
	if err != nil || res.OMS == "" {
		t.Fatalf("sign: %+v, %v", res, err)
	}
	pushTarModel(t, tg.open(t, "x/swap:v1"), map[string]string{"tokenizer/vocab.json": `{"a":1}`, "tokenizer/extra.txt": "x"})
	if _, err := workflow.Sign(ctx, tg.open(t, "x/swap:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	omsBundle := referrerBundle(t, tg.open(t, "x/tar:v1"), res.OMS)
	pushReferrer(t, tg.open(t, "x/swap:v1"), resolve(t, tg.open(t, "x/swap:v1")), omsBundle, oms.PredicateType)
	parent := t.TempDir()
	_, err = workflow.Pull(ctx, tg.open(t, "x/swap:v1"), filepath.Join(parent, "m"), workflow.PullOptions{Policy: keyPolicy(release)})
	if !errors.Is(err, errdef.ErrModelMismatch) ||
		!strings.Contains(err.Error(), "tokenizer/merges.txt is signed but not in the model") ||
		!strings.Contains(err.Error(), "tokenizer/extra.txt is not signed") {
		t.Fatalf("tar layer with a file missing and one added: %v", err)
	}
	if got, _ := os.ReadDir(parent); len(got) != 0 {
		t.Fatalf("pull left %v", got)
	}
}

// An OMS signature grows with the file count: about 30,000 files with
// short names, or 17,000 with long ones as here, make one over 4 MiB. The
// pull must read the bundle that signing wrote (it was capped at 4 MiB
// when read, and not at all when written).
func TestLargeOMSSignatureIsReadable(t *testing.T) {
	if testing.Short() {
		t.Skip("17,000 files")
	}
	ctx := context.Background()
	release := newKey(t, "release")
	tg := targets(t)[0]
	const n = 17000
	tok := make(map[string]string, n)
	for i := range n {
		tok[fmt.Sprintf("tokenizer/shard-%03d/%s-%06d.json", i/1000, strings.Repeat("long-sample-name", 5), i)] = strconv.Itoa(i)
	}
	pushTarModel(t, tg.open(t, "x/many:v1"), tok)
	res, err := workflow.Sign(ctx, tg.open(t, "x/many:v1"), release.signer)
	if err != nil {
		t.Fatal(err)
	}
	if b := referrerBundle(t, tg.open(t, "x/many:v1"), res.OMS); len(b) <= attest.MaxBundleSize {
		t.Fatalf("OMS bundle is %d bytes: the test needs one over attest.MaxBundleSize", len(b))
	}
	dest := filepath.Join(t.TempDir(), "m")
	sig := filepath.Join(dest, "model.sig")
	if _, err := workflow.Pull(ctx, tg.open(t, "x/many:v1"), dest, workflow.PullOptions{Policy: keyPolicy(release), SignaturePath: sig}); err != nil {
		t.Fatal(err)
	}
	bundle, _ := os.ReadFile(sig)
	if vr, err := oms.Verify(ctx, dest, bundle, oms.SignerVerifier(release.trusted), oms.VerifyOptions{SignaturePath: sig}); err != nil || vr.Files != n+1 {
		t.Fatalf("verify-dir: %+v, %v", vr, err)
	}
}

// A referrer the registry lists but no longer has (deleted, here: the
// tag-schema index still names it) is refused and skipped; the model's
// valid signature still verifies, and the skipped one is reported.
func TestDanglingReferrerIsSkipped(t *testing.T) {
	ctx := context.Background()
	release, other := newKey(t, "release"), newKey(t, "other")
	host := testutil.Registry(t, testutil.NoReferrersAPI, nil)
	if _, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Sign(ctx, open(t, host+"/x/m:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	gone, err := workflow.Sign(ctx, open(t, host+"/x/m:v1"), other.signer)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, "http://"+host+"/v2/x/m/manifests/"+gone.Signature.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("delete %s: %v %v", gone.Signature, resp, err)
	}
	resp.Body.Close()
	v, err := workflow.Verify(ctx, open(t, host+"/x/m:v1"), keyPolicy(release))
	if err != nil || !v.Verified {
		t.Fatalf("verify with one dangling referrer: %+v, %v", v, err)
	}
	skipped := false
	for _, s := range v.Signatures {
		skipped = skipped || (s.Digest == gone.Signature && !s.Verified && strings.Contains(s.Error, "not found"))
	}
	if !skipped {
		t.Errorf("the dangling referrer %s is not reported: %+v", gone.Signature, v.Signatures)
	}
	dest := filepath.Join(t.TempDir(), "m")
	if _, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{Policy: keyPolicy(release), SignaturePath: filepath.Join(dest, "model.sig")}); err != nil {
		t.Fatalf("pull with one dangling referrer: %v", err)
	}
	res, err := workflow.Copy(ctx, open(t, host+"/x/m:v1"), open(t, host+"/prod/m:v1"), workflow.CopyOptions{Policy: keyPolicy(release)})
	if err != nil || len(res.Dangling) != 1 || res.Dangling[0] != gone.Signature {
		t.Fatalf("copy with one dangling referrer: %+v, %v", res, err)
	}
}

// A registry that sends a signature bundle longer than its descriptor says
// (oras-go: "mismatch Content-Length") has that one bundle refused, a
// verification failure (exit 3), not an error that aborts the check; a
// copy of a blob whose length was changed fails as a size mismatch.
func TestLengthTamperingIsAVerificationFailure(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	var victim atomic.Value
	victim.Store("none")
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+victim.Load().(string)) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := append(rec.Body.Bytes(), " and more"...)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	})
	res, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), writeModel(t), workflow.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := workflow.Sign(ctx, open(t, host+"/x/m:v1"), release.signer)
	if err != nil {
		t.Fatal(err)
	}
	victim.Store(digest.FromBytes(referrerBundle(t, open(t, host+"/x/m:v1"), signed.Signature)).String())
	v, err := workflow.Verify(ctx, open(t, host+"/x/m:v1"), keyPolicy(release))
	if !errors.Is(err, errdef.ErrUntrusted) || v == nil || len(v.Signatures) != 1 || !strings.Contains(v.Signatures[0].Error, "size mismatch") {
		t.Fatalf("verify with a lengthened bundle: %+v, %v; want that bundle refused for its size", v, err)
	}
	for _, f := range res.Files {
		if f.Path == "model.safetensors" {
			victim.Store(f.Digest.String())
		}
	}
	layout := "oci:" + filepath.Join(t.TempDir(), "layout") + ":v1" // not a mount: the blob is read
	_, err = workflow.Copy(ctx, open(t, host+"/x/m:v1"), openWith(t, layout, registry.Options{CreateLayout: true}), workflow.CopyOptions{InsecureSkipVerify: true})
	if !errors.Is(err, errdef.ErrSizeMismatch) {
		t.Fatalf("copy of a lengthened blob: %v, want ErrSizeMismatch", err)
	}
}

// A container image, and an index of images, are signed and verified as
// cosign would: the cosign signature alone, no model signature. Pull still
// refuses them (they are not models).
func TestSignVerifyContainerImage(t *testing.T) {
	ctx := context.Background()
	release, other := newKey(t, "release"), newKey(t, "other")
	host := testutil.Registry(t, testutil.Olareg, nil)
	layer := "not a model"
	img := open(t, host+"/tools/vessel:img")
	pushManifest(t, img, "", ocispec.MediaTypeImageConfig,
		[]ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString(layer), Size: int64(len(layer))}}, [][]byte{[]byte(layer)})
	imgDesc, err := img.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	index, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{imgDesc}})
	indexDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(index), Size: int64(len(index))}
	if err := open(t, host+"/tools/vessel").PushManifest(ctx, indexDesc, index, "idx"); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"img", "idx"} {
		ref := host + "/tools/vessel:" + tag
		res, err := workflow.Sign(ctx, open(t, ref), release.signer)
		if err != nil || res.OMS != "" {
			t.Fatalf("%s: sign: %+v, %v", tag, res, err)
		}
		if v, err := workflow.Verify(ctx, open(t, ref), keyPolicy(release)); err != nil || !v.Verified || v.OMS != nil {
			t.Fatalf("%s: verify: %+v, %v", tag, v, err)
		}
		if _, err := workflow.Verify(ctx, open(t, ref), keyPolicy(other)); !errors.Is(err, errdef.ErrUntrusted) {
			t.Fatalf("%s: verify against another key: %v", tag, err)
		}
		if _, err := workflow.Pull(ctx, open(t, ref), filepath.Join(t.TempDir(), "m"), workflow.PullOptions{Policy: keyPolicy(release)}); err == nil {
			t.Fatalf("%s: pulled as a model", tag)
		}
	}
}
