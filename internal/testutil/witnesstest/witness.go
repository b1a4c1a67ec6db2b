// Package witnesstest makes run records in the format of in-toto's
// witness (`witness run -s STEP -k key.pem -o out.json -- CMD`) for tests:
// witness itself is not served by the Go module proxy, so the records are
// built here with the in-toto libraries (in-toto-golang's Statement v0.1,
// sigstore's DSSE signer), following witness's documentation for the
// field names: a DSSE envelope (payloadType application/vnd.in-toto+json)
// over a Statement v0.1 whose predicateType is the attestation collection,
// whose predicate is {"name": STEP, "attestations": [material,
// command-run, product]}, and whose subjects are the products, named
// https://witness.dev/attestations/product/v0.1/file:PATH with their
// sha256 (and gitoid) digests.
package witnesstest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
)

// Record signs a witness run record of step whose products are files
// (path -> content).
func Record(t testing.TB, signer signature.Signer, step string, files map[string][]byte) []byte {
	t.Helper()
	products := map[string]any{}
	var subjects []in_toto.Subject
	for path, content := range files {
		sum := sha256.Sum256(content)
		gitoid := gitoidSHA1(content)
		products[path] = map[string]any{"mime_type": "application/octet-stream", "digest": map[string]string{"sha256": hex.EncodeToString(sum[:]), "gitoid:sha1": gitoid}}
		subjects = append(subjects, in_toto.Subject{
			Name:   "https://witness.dev/attestations/product/v0.1/file:" + path,
			Digest: map[string]string{"sha256": hex.EncodeToString(sum[:]), "gitoid:sha1": gitoid},
		})
	}
	st := in_toto.Statement{
		StatementHeader: in_toto.StatementHeader{
			Type:          in_toto.StatementInTotoV01,
			PredicateType: "https://witness.testifysec.com/attestation-collection/v0.1",
			Subject:       subjects,
		},
		Predicate: map[string]any{
			"name": step,
			"attestations": []map[string]any{
				{"type": "https://witness.dev/attestations/material/v0.1", "attestation": map[string]any{}},
				{"type": "https://witness.dev/attestations/command-run/v0.1", "attestation": map[string]any{"cmd": []string{"python3", "train.py"}, "exitcode": 0}},
				{"type": "https://witness.dev/attestations/product/v0.1", "attestation": products},
			},
		},
	}
	payload, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	env, err := dsse.WrapSigner(signer, "application/vnd.in-toto+json").SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// gitoidSHA1 is the gitoid witness records beside sha256: git's blob id.
func gitoidSHA1(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return "gitoid:blob:sha1:" + hex.EncodeToString(h.Sum(nil))
}
