package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

// Every promotion path between the three kinds of target keeps the
// signature, the OMS signature and the attestations verifiable.
func TestCopyKeepsSignaturesAndAttestations(t *testing.T) {
	ctx := context.Background()
	release, promote := newKey(t, "release"), newKey(t, "promote")
	all := targets(t)
	for _, from := range all {
		for _, to := range all {
			t.Run(from.name+"->"+to.name, func(t *testing.T) {
				staging := "staging/" + to.name + ":v1" // one source per pair
				src := from.open(t, staging)
				if _, err := workflow.Push(ctx, src, writeModel(t), workflow.PushOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := workflow.Sign(ctx, from.open(t, staging), release.signer); err != nil {
					t.Fatal(err)
				}
				if _, err := workflow.Attest(ctx, from.open(t, staging), release.signer, "https://example.com/eval/v1", json.RawMessage(`{"accuracy":0.9}`)); err != nil {
					t.Fatal(err)
				}
				dstName := "prod/" + from.name + ":v1"
				res, err := workflow.Copy(ctx, from.open(t, staging), to.open(t, dstName), workflow.CopyOptions{Policy: keyPolicy(release)})
				if err != nil {
					t.Fatal(err)
				}
				if res.Verification == nil || !res.Verification.Verified || res.Referrers < 3 {
					t.Fatalf("copy result: %+v", res)
				}
				list, err := workflow.Attestations(ctx, to.open(t, dstName), keyPolicy(release), "https://example.com/eval/v1")
				if err != nil || len(list.Attestations) != 1 {
					t.Fatalf("attestations at the destination: %d, %v", len(list.Attestations), err)
				}
				dest := filepath.Join(t.TempDir(), "m")
				if _, err := workflow.Pull(ctx, to.open(t, dstName), dest, workflow.PullOptions{
					Policy: keyPolicy(release), SignaturePath: filepath.Join(dest, "model.sig"),
				}); err != nil {
					t.Fatal(err)
				}
				// Again: nothing is sent twice.
				again, err := workflow.Copy(ctx, from.open(t, staging), to.open(t, dstName), workflow.CopyOptions{Policy: keyPolicy(release)})
				if err != nil || again.Copied != 0 {
					t.Fatalf("second copy: %+v, %v", again, err)
				}
				// Countersigned promotion: the promote key now verifies too.
				if _, err := workflow.Copy(ctx, from.open(t, staging), to.open(t, dstName), workflow.CopyOptions{Policy: keyPolicy(release), Countersign: promote.signer}); err != nil {
					t.Fatal(err)
				}
				if v, err := workflow.Verify(ctx, to.open(t, dstName), keyPolicy(promote)); err != nil || !v.Verified {
					t.Fatalf("countersignature: %+v, %v", v, err)
				}
				if l, err := workflow.Attestations(ctx, to.open(t, dstName), keyPolicy(promote), workflow.PromotionPredicate); err != nil || len(l.Attestations) != 1 {
					t.Fatalf("promotion attestation: %+v, %v", l, err)
				}
			})
		}
	}
}

func TestCopyRefusesUnsignedAndCorrupt(t *testing.T) {
	// Both remote kinds: olareg checks an upload's digest itself, so the
	// copy must find the corruption before the destination does.
	for _, dst := range targets(t)[:2] {
		t.Run(dst.name, func(t *testing.T) { copyRefusesUnsignedAndCorrupt(t, dst) })
	}
}

func copyRefusesUnsignedAndCorrupt(t *testing.T, dst target) {
	ctx := context.Background()
	release, other := newKey(t, "release"), newKey(t, "other")
	layout := filepath.Join(t.TempDir(), "store")
	srcRef := "oci:" + layout + ":v1"
	res, err := workflow.Push(ctx, openWith(t, srcRef, registry.Options{CreateLayout: true}), writeModel(t), workflow.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Sign(ctx, open(t, srcRef), release.signer); err != nil {
		t.Fatal(err)
	}
	// Not signed by the trusted key: refused, nothing tagged.
	if _, err := workflow.Copy(ctx, open(t, srcRef), dst.open(t, "prod/m:v1"), workflow.CopyOptions{Policy: keyPolicy(other)}); !errors.Is(err, errdef.ErrUntrusted) {
		t.Fatalf("untrusted source: %v", err)
	}
	if _, err := dst.open(t, "prod/m:v1").Resolve(ctx); err == nil {
		t.Fatal("destination tagged after a refused copy")
	}
	// A corrupted blob at the source: the copy fails and the tag does not exist.
	for _, f := range res.Files {
		if f.Path == "model.safetensors" {
			corruptLayoutBlob(t, layout, f.Digest)
		}
	}
	if _, err := workflow.Copy(ctx, open(t, srcRef), dst.open(t, "prod/m:v1"), workflow.CopyOptions{Policy: keyPolicy(release)}); err == nil || !errors.Is(err, errdef.ErrVerification) {
		t.Fatalf("corrupt source: %v", err)
	}
	if _, err := dst.open(t, "prod/m:v1").Resolve(ctx); err == nil {
		t.Fatal("destination tagged after a failed copy")
	}
}

// corruptLayoutBlob flips one byte of a blob in an OCI layout, keeping its size.
func corruptLayoutBlob(t *testing.T, layout string, d digest.Digest) {
	t.Helper()
	p := filepath.Join(layout, "blobs", d.Algorithm().String(), d.Encoded())
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Within one registry, blobs are mounted from the source repository, not
// uploaded again.
func TestCopyMountsWithinARegistry(t *testing.T) {
	ctx := context.Background()
	var mounts, uploads atomic.Int32
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads") {
				if r.URL.Query().Get("mount") != "" {
					mounts.Add(1)
				}
			}
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads") {
				uploads.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	if _, err := workflow.Push(ctx, open(t, host+"/staging/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	mounts.Store(0)
	uploads.Store(0)
	res, err := workflow.Copy(ctx, open(t, host+"/staging/m:v1"), open(t, host+"/prod/m:v1"), workflow.CopyOptions{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if m := mounts.Load(); m < int32(len(sampleModel)) || uploads.Load() != 0 {
		t.Fatalf("%d mounts, %d uploads (result %+v)", m, uploads.Load(), res)
	}
}

// A registry that fails (rather than says "no such tag") when asked for
// cosign's classic .sig/.att tags must fail a copy and a verify: taking
// the failure for "none" would promote the model without its classic
// signatures, or verify it without looking at them.
func TestClassicTagOutageIsAnError(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	var failing atomic.Bool
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing.Load() && strings.Contains(r.URL.Path, "/manifests/sha256-") &&
				(strings.HasSuffix(r.URL.Path, ".sig") || strings.HasSuffix(r.URL.Path, ".att")) {
				http.Error(w, "maintenance", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	if _, err := workflow.Push(ctx, open(t, host+"/staging/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Sign(ctx, open(t, host+"/staging/m:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	// With no classic tags and a healthy registry, both succeed.
	if _, err := workflow.Verify(ctx, open(t, host+"/staging/m:v1"), keyPolicy(release)); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	_, err := workflow.Copy(ctx, open(t, host+"/staging/m:v1"), open(t, host+"/prod/m:v1"), workflow.CopyOptions{Policy: keyPolicy(release)})
	if err == nil || errors.Is(err, errdef.ErrNotFound) || !strings.Contains(err.Error(), ".sig") {
		t.Errorf("copy while the classic tags fail: %v, want an error naming the tag", err)
	}
	if _, err := workflow.Verify(ctx, open(t, host+"/staging/m:v1"), keyPolicy(release)); err == nil || !strings.Contains(err.Error(), ".sig") {
		t.Errorf("verify while the classic tags fail: %v, want an error naming the tag", err)
	}
}

// A copy that verifies at the source but is refused at the destination (a
// scope there rejects it) leaves no tag: the tag is written only after the
// destination verifies.
func TestCopyRefusedAtTheDestinationLeavesNoTag(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	dir := t.TempDir()
	pub, _ := release.signer.PublicKey()
	pemBytes, _ := cryptoutils.MarshalPublicKeyToPEM(pub)
	writeFile(t, dir, "release.pub", string(pemBytes))
	host := testutil.Registry(t, testutil.Olareg, nil)
	policy, err := attest.ParsePolicy([]byte(`
version: 1
scopes:
  - scope: "`+host+`/staging/**"
    signers: [{name: release, key: release.pub}]
  - scope: "`+host+`/prod/**"
    reject: true
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Push(ctx, open(t, host+"/staging/m:v1"), writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Sign(ctx, open(t, host+"/staging/m:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	_, err = workflow.Copy(ctx, open(t, host+"/staging/m:v1"), open(t, host+"/prod/m:v1"), workflow.CopyOptions{Policy: policy})
	if !errors.Is(err, errdef.ErrUntrusted) || !strings.Contains(err.Error(), "destination") {
		t.Fatalf("copy into a rejecting scope: %v, want ErrUntrusted at the destination", err)
	}
	if _, err := open(t, host+"/prod/m:v1").Resolve(ctx); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("destination tag after a refused copy: %v, want not found", err)
	}
}
