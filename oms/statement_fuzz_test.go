package oms

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
)

// FuzzParseStatement: the signed statement's predicate (file names,
// digests, shards, serialization) is parsed before a single file is
// hashed. Arbitrary payloads never panic, are refused as bad bundles, and
// what is accepted names only clean relative paths with sorted shards
// that do not overlap. (Reached here directly: through Verify a fuzzer
// would need to forge a signature first.)
func FuzzParseStatement(f *testing.F) {
	for _, p := range []string{
		"model-signing-spec/test-vectors/v1.0/valid/key.bundle.json",
		"model-signing-spec/test-vectors/v1.0/valid/certificate.bundle.json",
		"model-transparency/scripts/tests/v1.0.0-elliptic-key/model.sig",
	} {
		var b struct {
			DSSE struct {
				Payload string `json:"payload"`
			} `json:"dsseEnvelope"`
		}
		data, err := os.ReadFile(testutil.Testdata(f, "oms", p))
		if err != nil {
			f.Fatal(err)
		}
		if err := json.Unmarshal(data, &b); err != nil {
			f.Fatal(err)
		}
		payload, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
		if err != nil || len(payload) == 0 {
			f.Fatalf("%s: no DSSE payload (%v)", p, err)
		}
		f.Add(payload)
	}
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"00"}}],"predicateType":"https://model_signing/signature/v1.0","predicate":{"resources":[{"name":"a","algorithm":"sha256","digest":"00"}],"serialization":{"method":"shards","hash_type":"sha256","shard_size":4,"allow_symlinks":false}}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := parseStatement(payload)
		if err != nil {
			if !errors.Is(err, errdef.ErrVerification) {
				t.Fatalf("refused without a verification error: %v", err)
			}
			return
		}
		for name, sf := range m.files {
			if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
				t.Fatalf("accepted the file name %q", name)
			}
			for i, s := range sf.shards {
				if s.start >= s.end || (i > 0 && sf.shards[i-1].end > s.start) {
					t.Fatalf("%s: shards %+v overlap or are empty", name, sf.shards)
				}
			}
		}
	})
}
