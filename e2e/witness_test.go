//go:build e2e

package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/vessel-oci/vessel/internal/testutil/witnesstest"
)

// A witness run record (DSSE, signed by the training step's key) attached
// with `vessel attest --envelope` is what a policy requiring it accepts
// when the step produced every file, and refuses, exit 3 naming the file,
// when one file differs.
//
// cosign cannot read such a record, and the test holds that down so that
// a cosign that can is noticed: both releases refuse it with "unable to
// decode subject digest", even with --check-claims=false, because
// sigstore-go hex-decodes every subject digest and witness's products also
// carry gitoid digests ("gitoid:blob:sha1:..."); and with its claim check
// cosign binds an attestation to the image digest, while a run record is
// about the files.
func TestWitnessRecordEndToEnd(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	keys := t.TempDir()
	releaseKey, _ := keygen(t, keys, "release")
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	trainer, err := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	trainerPub := filepath.Join(keys, "trainer.pub")
	ppWriteFile(t, trainerPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	policy := filepath.Join(keys, "policy.yaml")
	ppWriteFile(t, policy, []byte(`version: 1
scopes:
  - scope: "**"
    signers: [{name: release, key: release.pub}]
    attestations:
      - signers: [{name: trainer, key: trainer.pub}]
        witness: {step: train, products: allFiles}
`))
	// The record of the run that wrote the sample model into out/.
	files := map[string][]byte{}
	for p := range hashTree(t, ppSampleModel()) {
		b, err := os.ReadFile(filepath.Join(ppSampleModel(), filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		files["out/"+p] = b
	}
	good := filepath.Join(t.TempDir(), "train.att.json")
	ppWriteFile(t, good, witnesstest.Record(t, trainer, "train", files))
	files["out/model.safetensors"] = []byte("weights the run did not write")
	bad := filepath.Join(t.TempDir(), "train.att.json")
	ppWriteFile(t, bad, witnesstest.Record(t, trainer, "train", files))

	for _, r := range remoteRegistries(t) {
		for _, tc := range []struct {
			record string
			want   int
		}{{good, 0}, {bad, 3}} {
			repo := "witness/" + map[int]string{0: "good", 3: "bad"}[tc.want]
			ref := r.Ref(repo + ":v1")
			pushSample(t, ref, "--key", releaseKey)
			if _, stderr, code := vessel(t, "attest", ref, "--envelope", tc.record); code != 0 {
				t.Fatalf("%s: attest --envelope: %s", r.Kind, stderr)
			}
			out, stderr, code := vessel(t, "verify", ref, "--policy", policy)
			if code != tc.want {
				t.Fatalf("%s: verify with the witness requirement: exit %d, want %d\n%s%s", r.Kind, code, tc.want, out, stderr)
			}
			if tc.want == 3 && !strings.Contains(stderr, "model.safetensors") {
				t.Errorf("%s: the refusal does not name the file:\n%s", r.Kind, stderr)
			}
			if tc.want != 0 {
				continue
			}
			if out, stderr, code := vessel(t, "attestations", ref, "--policy", policy, "--type", "https://witness.testifysec.com/attestation-collection/v0.1"); code != 0 || !strings.Contains(out, "signed by trainer") {
				t.Errorf("%s: vessel attestations: exit %d\n%s%s", r.Kind, code, out, stderr)
			}
			// The known limit, on an unsigned model (only the record
			// beside it, so no other referrer is what cosign trips on).
			plain := r.Ref(repo + "-cosign:v1")
			plainDigest := pushSample(t, plain)
			if _, stderr, code := vessel(t, "attest", plain, "--envelope", tc.record); code != 0 {
				t.Fatalf("%s: attest --envelope: %s", r.Kind, stderr)
			}
			for _, c := range cosignReleases {
				_, stderr, code := c.run(t, "verify-attestation", "--key", trainerPub, "--type", "https://witness.testifysec.com/attestation-collection/v0.1",
					"--insecure-ignore-tlog", "--check-claims=false", "--trusted-root", offlineTrustedRoot(t), "--allow-http-registry", r.Ref(repo+"-cosign@"+plainDigest))
				if code == 0 || !strings.Contains(stderr, "unable to decode subject digest") {
					t.Errorf("%s: %s verify-attestation of a witness record: exit %d; cosign's known limit changed, revisit the README:\n%s", r.Kind, c.name, code, stderr)
				}
			}
		}
	}
}
