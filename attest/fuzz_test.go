package attest

import (
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/errdef"
)

// FuzzVerifySignatures feeds the same bytes to the three readers of a
// signature a registry hands over (a sigstore bundle, a bare DSSE
// envelope, a classic simple-signing payload). None may panic; every
// refusal is a verification failure; anything accepted is about the
// subject asked for and signed by the one trusted key (the seeds that
// verify are signed by it; a fuzzer cannot forge a new signature).
func FuzzVerifySignatures(f *testing.F) {
	s, key, _ := newCosignKey(f)
	stmt, err := Statement(subject, "m", CosignSignPredicate, nil)
	if err != nil {
		f.Fatal(err)
	}
	b, err := SignStatement(context.Background(), s, stmt)
	if err != nil {
		f.Fatal(err)
	}
	env, err := dsseSign(s, stmt)
	if err != nil {
		f.Fatal(err)
	}
	layer, payload := classicLayer(f, s, subject)
	f.Add(b)
	f.Add(env)
	f.Add(payload)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	keys := []TrustedSigner{key}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(what string, v *Verified, err error) {
			if err != nil {
				if !errors.Is(err, errdef.ErrVerification) {
					t.Fatalf("%s refused without a verification error: %v", what, err)
				}
				return
			}
			if v.Signer != key.Name {
				t.Fatalf("%s verified by %q", what, v.Signer)
			}
			if v.statement != nil && !coversSubject(v.statement, subject) {
				t.Fatalf("%s accepted a statement about %s", what, subjectsOf(v.statement))
			}
		}
		v, err := VerifyBundle(data, subject, keys)
		check("bundle", v, err)
		v, err = VerifyDSSE(data, subject, keys)
		check("DSSE envelope", v, err)
		l := ocispec.Descriptor{MediaType: layer.MediaType, Digest: digest.FromBytes(data), Size: int64(len(data)), Annotations: layer.Annotations}
		v, err = VerifyClassic(l, data, subject, keys)
		check("classic signature", v, err)
	})
}
