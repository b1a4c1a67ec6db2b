package oms_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vessel-oci/vessel/oms"
)

// FuzzVerifyBundle: arbitrary bundle bytes against a tiny model never panic
// and never verify (a fuzzer cannot forge an ECDSA signature, and the seeds
// that do verify sign other files).
func FuzzVerifyBundle(f *testing.F) {
	for _, p := range []string{
		"model-signing-spec/test-vectors/v1.0/valid/key.bundle.json",
		"model-signing-spec/test-vectors/v1.0/valid/certificate.bundle.json",
		"model-signing-spec/test-vectors/v1.0/valid/sigstore.bundle.json",
		"model-signing-spec/test-vectors/v1.0/invalid/missing-envelope.bundle.json",
		"model-signing-spec/test-vectors/v1.0/invalid-payload/wrong-predicate.bundle.json",
		"model-transparency/scripts/tests/v1.0.0-elliptic-key/model.sig",
		"model-transparency/scripts/tests/v1.0.1-sigstore/model.sig",
	} {
		f.Add(readFile(f, testdata(f, p)))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))

	model := filepath.Join(f.TempDir(), "m")
	if err := os.MkdirAll(model, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "signme-1"), []byte("fuzz"), 0o644); err != nil {
		f.Fatal(err)
	}
	verifiers := []oms.Verifier{refKeyVerifier(f), refCertVerifier(f), refSigstoreVerifier(f, refIdentity, refIssuer)}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range verifiers {
			for _, opts := range []oms.VerifyOptions{{}, {IgnoreUnsignedFiles: true, AllowSymlinks: true}} {
				if res, err := oms.Verify(ctx, model, data, v, opts); err == nil {
					t.Fatalf("verified: %+v", res)
				}
			}
		}
	})
}
