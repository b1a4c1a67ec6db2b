package oms_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/oms"
)

// isVerificationFailure is what the CLI maps to exit code 3.
func isVerificationFailure(err error) bool {
	for _, target := range []error{errdef.ErrBadBundle, errdef.ErrModelMismatch, errdef.ErrBadSignature, errdef.ErrUntrusted} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// TestSpecVectors: model-signing-spec test-vectors/v1.0: valid/ verifies
// (with the key, CA and identity testdata/oms/README.md names),
// invalid/ and invalid-payload/ are refused by every verifier.
func TestSpecVectors(t *testing.T) {
	t.Parallel()
	vec := func(p string) string { return testdata(t, "model-signing-spec/test-vectors/v1.0", p) }
	tests := []struct {
		bundle   string
		model    string // directory under model-transparency/scripts/tests
		verifier oms.Verifier
		method   string
		signer   string
	}{
		{"valid/key.bundle.json", "v1.0.1-elliptic-key", refKeyVerifier(t), oms.SigningKey, "signing-key-pub.pem"},
		{"valid/certificate.bundle.json", "v1.0.1-elliptic-key", refCertVerifier(t), oms.SigningCertificate, "CN=intermediate-ca"},
		{"valid/sigstore.bundle.json", "v1.0.1-sigstore", refSigstoreVerifier(t, refIdentity, refIssuer), oms.SigningSigstore, refIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.bundle, func(t *testing.T) {
			t.Parallel()
			// The vector signs the folder's files once its own model.sig is
			// left out as the signature file: put the vector in its place.
			dir := copyTree(t, testdata(t, "model-transparency/scripts/tests", tt.model))
			sig := filepath.Join(dir, "model.sig")
			b := readFile(t, vec(tt.bundle))
			if err := os.WriteFile(sig, b, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := oms.Verify(context.Background(), dir, b, tt.verifier, oms.VerifyOptions{SignaturePath: sig})
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if res.Method != tt.method || res.Signer != tt.signer || res.Files != 2 || res.PredicateType != oms.PredicateType ||
				res.Serialization.Method != oms.MethodFiles || res.Serialization.HashType != oms.HashSHA256 {
				t.Fatalf("result = %+v", res)
			}
			// The vectors record ignore-me in ignore_paths, so it is not an
			// unsigned file; a file they do not record is.
			writeFile(t, filepath.Join(dir, "extra"), "x")
			_, err = oms.Verify(context.Background(), dir, b, tt.verifier, oms.VerifyOptions{SignaturePath: sig})
			var mis *oms.MismatchError
			if !errors.As(err, &mis) || len(mis.Unsigned) != 1 || mis.Unsigned[0] != "extra" {
				t.Fatalf("extra file: err = %v", err)
			}
		})
	}

	model := testdata(t, "model-transparency/scripts/tests/v1.0.1-elliptic-key")
	verifiers := map[string]oms.Verifier{
		"key":         refKeyVerifier(t),
		"certificate": refCertVerifier(t),
		"sigstore":    refSigstoreVerifier(t, refIdentity, refIssuer),
	}
	for _, name := range []string{
		"invalid/empty.bundle.json",
		"invalid/missing-envelope.bundle.json",
		"invalid/missing-verification-material.bundle.json",
		"invalid/missing-tlog-entries.bundle.json",
		"invalid-payload/wrong-predicate.bundle.json",
	} {
		b := readFile(t, vec(name))
		for vname, v := range verifiers {
			t.Run(name+"/"+vname, func(t *testing.T) {
				t.Parallel()
				res, err := oms.Verify(context.Background(), model, b, v, oms.VerifyOptions{IgnorePaths: []string{"ignore-me", "model.sig"}})
				if err == nil || res != nil {
					t.Fatalf("verified: %+v", res)
				}
				if !isVerificationFailure(err) {
					t.Fatalf("err = %v, not a verification failure", err)
				}
			})
		}
	}
}

// TestReferenceGoldenSignatures: the model.sig files that the Python
// reference (model_signing v0.2.0, v1.0.0 and v1.0.1) wrote verify with the flags
// its scripts/tests/test-verify-*.sh pass.
func TestReferenceGoldenSignatures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir      string
		file     string // a single-file model: the model path is this file
		verifier oms.Verifier
		ignore   []string
		signer   string
		model    string // subject name
	}{
		// v0.2.0: the pre-1.0 encoding, hashed with SHA-256 on a P-384 key.
		{dir: "v0.2.0-certificate", verifier: refCertVerifier(t), signer: "CN=intermediate-ca", model: ""},
		{dir: "v1.0.0-elliptic-key", file: "signme-1", verifier: refKeyVerifier(t), signer: "signing-key-pub.pem", model: "signme-1"},
		{dir: "v1.0.0-certificate", verifier: refCertVerifier(t), signer: "CN=intermediate-ca", model: "v1.0.0-certificate"},
		// verify_test.py::test_verify_key_v1_0_0: the reference's key verifier
		// checks only the signature of a bundle that names no key, so a
		// certificate bundle verifies with the leaf's public key. vessel does
		// the same: the trusted key is the whole of the trust.
		{dir: "v1.0.0-certificate", verifier: refKeyVerifier(t), signer: "signing-key-pub.pem", model: "v1.0.0-certificate"},
		{dir: "v1.0.0-sigstore", verifier: refSigstoreVerifier(t, refIdentity, refIssuer), signer: refIdentity, model: "v1.0.0-sigstore"},
		{dir: "v1.0.1-elliptic-key", verifier: refKeyVerifier(t), ignore: []string{"ignore-me"}, signer: "signing-key-pub.pem", model: "v1.0.1-elliptic-key"},
		{dir: "v1.0.1-certificate", verifier: refCertVerifier(t), ignore: []string{"ignore-me"}, signer: "CN=intermediate-ca", model: "v1.0.1-certificate"},
		{dir: "v1.0.1-sigstore", verifier: refSigstoreVerifier(t, refIdentity, refIssuer), ignore: []string{"ignore-me"}, signer: refIdentity, model: "v1.0.1-sigstore"},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.signer, func(t *testing.T) {
			t.Parallel()
			dir := testdata(t, "model-transparency/scripts/tests", tt.dir)
			sig := filepath.Join(dir, "model.sig")
			path := dir
			if tt.file != "" {
				path = filepath.Join(dir, tt.file)
			}
			b := readFile(t, sig)
			opts := oms.VerifyOptions{SignaturePath: sig, IgnorePaths: tt.ignore}
			res, err := oms.Verify(context.Background(), path, b, tt.verifier, opts)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			wantFiles := 2
			if tt.file != "" {
				wantFiles = 1
			}
			if res.Signer != tt.signer || res.Files != wantFiles || res.Model != tt.model {
				t.Fatalf("result = %+v", res)
			}
			if len(tt.ignore) > 0 {
				// ignore-me is not in these bundles: without --ignore-paths it
				// is an unsigned file, as for the reference.
				opts.IgnorePaths = nil
				_, err := oms.Verify(context.Background(), path, b, tt.verifier, opts)
				var mis *oms.MismatchError
				if !errors.As(err, &mis) || len(mis.Unsigned) != 1 || mis.Unsigned[0] != "ignore-me" {
					t.Fatalf("without ignore paths: err = %v", err)
				}
				opts.IgnoreUnsignedFiles = true
				res, err := oms.Verify(context.Background(), path, b, tt.verifier, opts)
				if err != nil || len(res.Unsigned) != 1 {
					t.Fatalf("ignoring unsigned files: %+v, %v", res, err)
				}
			}
		})
	}
}

// TestReferenceSignaturesRefused: the same golden files with the wrong
// trust or a tampered model.
func TestReferenceSignaturesRefused(t *testing.T) {
	t.Parallel()
	golden := func(dir string) (string, []byte) {
		d := testdata(t, "model-transparency/scripts/tests", dir)
		return d, readFile(t, filepath.Join(d, "model.sig"))
	}
	otherKey := func() oms.Verifier {
		_, pub, err := attest.GenerateKeyPair([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		v, err := attest.LoadPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return oms.SignerVerifier(attest.TrustedSigner{Name: "other", Key: v})
	}
	ignore := oms.VerifyOptions{IgnorePaths: []string{"ignore-me", "model.sig"}}
	tests := []struct {
		name     string
		dir      string
		verifier oms.Verifier
		want     error
	}{
		{"other key", "v1.0.1-elliptic-key", otherKey(), errdef.ErrBadSignature},
		{"key bundle, CA verifier", "v1.0.1-elliptic-key", refCertVerifier(t), errdef.ErrUntrusted},
		{"other identity", "v1.0.1-sigstore", refSigstoreVerifier(t, "someone@example.com", refIssuer), errdef.ErrUntrusted},
		{"other issuer", "v1.0.1-sigstore", refSigstoreVerifier(t, refIdentity, "https://accounts.google.com"), errdef.ErrUntrusted},
		// sigstore-go refuses a v0.3 bundle with a certificate chain.
		{"certificate bundle, sigstore verifier", "v1.0.1-certificate", refSigstoreVerifier(t, refIdentity, refIssuer), errdef.ErrBadBundle},
		{"sigstore bundle, key verifier", "v1.0.1-sigstore", refKeyVerifier(t), errdef.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, b := golden(tt.dir)
			_, err := oms.Verify(context.Background(), dir, b, tt.verifier, ignore)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	// A changed byte in a signed file.
	src, b := golden("v1.0.1-certificate")
	dir := copyTree(t, src)
	writeFile(t, filepath.Join(dir, "signme-2"), "signme-X")
	_, err := oms.Verify(context.Background(), dir, b, refCertVerifier(t), ignore)
	var mis *oms.MismatchError
	if !errors.As(err, &mis) || len(mis.Changed) != 1 || !errors.Is(err, errdef.ErrModelMismatch) {
		t.Fatalf("changed file: err = %v", err)
	}
}
