package attest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"

	"github.com/vessel-oci/vessel/errdef"
)

// Witness (in-toto's `witness run`) records what a step of a pipeline
// did as one in-toto statement: this predicate type, a predicate naming
// the step and holding each attestor's record, and one subject per file
// the step produced, named with this prefix and the file's path.
const (
	WitnessCollection = "https://witness.testifysec.com/attestation-collection/v0.1"
	witnessProduct    = "https://witness.dev/attestations/product/v0.1/file:"
)

// WrapEnvelope makes the Sigstore bundle (v0.3) cosign stores an
// attestation in from a DSSE envelope signed elsewhere (`witness run -o`,
// any in-toto tool), and returns it with its statement's predicate type.
// Nothing is verified here: whoever trusts the signer checks it. The
// envelope's key ID, if any, becomes the bundle's key hint.
func WrapEnvelope(envelope []byte) (bundle []byte, predicateType string, err error) {
	if len(envelope) > MaxBundleSize {
		return nil, "", fmt.Errorf("%w: envelope is %d bytes (cap %d)", errdef.ErrLimit, len(envelope), MaxBundleSize)
	}
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, "", fmt.Errorf("not a DSSE envelope: %v", err)
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, "", fmt.Errorf("DSSE payload type %q: want an in-toto statement (%s)", env.PayloadType, InTotoPayloadType)
	}
	if len(env.Signatures) != 1 {
		return nil, "", fmt.Errorf("the envelope has %d signatures: a Sigstore bundle holds one", len(env.Signatures))
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, "", fmt.Errorf("DSSE payload: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil || len(sig) == 0 {
		return nil, "", fmt.Errorf("DSSE signature: not base64 (%v)", err)
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(payload, &st); err != nil || !strings.HasPrefix(st.Type, "https://in-toto.io/Statement/") || st.PredicateType == "" {
		return nil, "", fmt.Errorf("the payload is not an in-toto statement with a predicate type (%v)", err)
	}
	b, err := dsseBundle(&protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: env.Signatures[0].KeyID}},
	}, payload, sig, env.Signatures[0].KeyID)
	if err != nil {
		return nil, "", err
	}
	return b, st.PredicateType, nil
}

// WitnessRun is what a verified witness statement says a step did.
type WitnessRun struct {
	// Step is the predicate's name (`witness run --step`).
	Step string
	// Products maps each product's path to its sha256 (hex).
	Products map[string]string
}

// ReadWitnessRun reads a verified witness statement (Verified.Statement).
func ReadWitnessRun(statement []byte) (*WitnessRun, error) {
	var st struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			Name string `json:"name"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(statement, &st); err != nil {
		return nil, fmt.Errorf("witness statement: %v", err)
	}
	if st.PredicateType != WitnessCollection {
		return nil, fmt.Errorf("predicate type %q is not a witness run's", st.PredicateType)
	}
	run := &WitnessRun{Step: st.Predicate.Name, Products: map[string]string{}}
	for _, s := range st.Subject {
		if path, ok := strings.CutPrefix(s.Name, witnessProduct); ok && s.Digest["sha256"] != "" {
			run.Products[path] = s.Digest["sha256"]
		}
	}
	return run, nil
}

// Produced reports whether the run produced a file at path (relative to
// the model; the run may have worked one directory up, so a product
// ending in "/"+path counts) with this sha256.
func (r *WitnessRun) Produced(path, sha256 string) bool {
	for p, d := range r.Products {
		if d == sha256 && (p == path || strings.HasSuffix(p, "/"+path)) {
			return true
		}
	}
	return false
}
