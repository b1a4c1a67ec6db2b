package workflow_test

import (
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/internal/testutil/witnesstest"
	"github.com/vessel-oci/vessel/workflow"
)

// A witness run record attached to a model is enforced by a policy that
// requires it: accepted when the step produced every file of the model
// (its path and digest), refused, naming the file, when one differs or is
// missing, or when it is another step's; vessel attestations lists it.
func TestWitnessRunRecords(t *testing.T) {
	ctx := context.Background()
	host := testutil.Registry(t, testutil.Olareg, nil)
	release, trainer := newKey(t, "release"), newKey(t, "trainer")
	dir := t.TempDir()
	for name, k := range map[string]keypair{"release.pub": release, "trainer.pub": trainer} {
		pub, err := k.signer.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), pemPublic(t, pub), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	policyDoc := `version: 1
scopes:
  - scope: "` + host + `/**"
    signers: [{name: release, key: release.pub}]
    attestations:
      - type: https://witness.testifysec.com/attestation-collection/v0.1
        signers: [{name: trainer, key: trainer.pub}]
        witness: {step: train, products: allFiles}
`
	policy, err := attest.ParsePolicy([]byte(policyDoc), dir)
	if err != nil {
		t.Fatal(err)
	}
	// The files as the training run wrote them, under its output directory.
	produced := func(edit func(map[string][]byte)) map[string][]byte {
		files := map[string][]byte{}
		for p, c := range sampleModel {
			files["out/"+p] = []byte(c)
		}
		if edit != nil {
			edit(files)
		}
		return files
	}
	for _, tc := range []struct {
		name   string
		step   string
		files  map[string][]byte
		refuse string // "" when the model verifies
	}{
		{"every file produced", "train", produced(nil), ""},
		{"one file differs", "train", produced(func(f map[string][]byte) { f["out/model.safetensors"] = []byte("other weights") }), "model.safetensors"},
		{"one file missing", "train", produced(func(f map[string][]byte) { delete(f, "out/tokenizer/merges.txt") }), "tokenizer/merges.txt"},
		{"another step", "eval", produced(nil), `not "train"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := open(t, host+"/runs/"+strings.ReplaceAll(tc.name, " ", "-")+":v1")
			if _, err := workflow.Push(ctx, repo, writeModel(t), workflow.PushOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := workflow.Sign(ctx, repo, release.signer); err != nil {
				t.Fatal(err)
			}
			res, err := workflow.AttachEnvelope(ctx, repo, witnesstest.Record(t, trainer.signer, tc.step, tc.files))
			if err != nil || res.PredicateType != attest.WitnessCollection {
				t.Fatalf("attach: %+v, %v", res, err)
			}
			v, err := workflow.Verify(ctx, repo, policy)
			if tc.refuse == "" {
				if err != nil || len(v.Attestations) != 1 || !v.Attestations[0].Satisfied || v.Attestations[0].By != "trainer" {
					t.Fatalf("verify: %v\n%+v", err, v)
				}
				list, err := workflow.Attestations(ctx, repo, policy, attest.WitnessCollection)
				if err != nil || len(list.Attestations) != 1 || list.Attestations[0].Signer != "trainer" {
					t.Fatalf("attestations: %+v, %v", list, err)
				}
				return
			}
			if !errors.Is(err, errdef.ErrUntrusted) || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("verify = %v, want a refusal naming %s", err, tc.refuse)
			}
		})
	}

	// An envelope that is no DSSE in-toto envelope is refused before
	// anything is stored.
	repo := open(t, host+"/runs/bad:v1")
	if _, err := workflow.Push(ctx, repo, writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.AttachEnvelope(ctx, repo, []byte(`{"payloadType":"text/plain","payload":"aGk=","signatures":[{"sig":"aGk="}]}`)); err == nil {
		t.Fatal("a non-in-toto envelope was attached")
	}
}

func pemPublic(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	b, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
