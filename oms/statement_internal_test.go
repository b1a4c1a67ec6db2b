package oms

import (
	"bytes"
	"encoding/json"
	"testing"
)

// encodeStatement, which writes a resource at a time, gives the bytes one
// json.Encoder (no HTML escaping) gives for the whole statement: names
// with characters JSON escapes, HTML ones it must not, and non-ASCII.
func TestEncodeStatementMatchesOneEncode(t *testing.T) {
	st := statementJSON{
		Type:          statementType,
		Subject:       []subjectJSON{{Name: `a "model" <v1>&`, Digest: map[string]string{"sha256": "00ff"}}},
		PredicateType: PredicateType,
		Predicate: predicateJSON{
			Resources: []Resource{
				{Name: "a<b>&c.txt", Digest: "01", Algorithm: "sha256"},
				{Name: "quote\"back\\slash\ttab", Digest: "02", Algorithm: "sha256"},
				{Name: "ünïcode/\u2028sep.bin", Digest: "03", Algorithm: "sha256-sharded-1024"},
			},
			Serialization: Serialization{Method: MethodFiles, HashType: HashSHA256, IgnorePaths: []string{".git", "<x>"}},
		},
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(st); err != nil {
		t.Fatal(err)
	}
	got, err := encodeStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(got, w) {
		t.Fatalf("encodeStatement:\n%s\none Encode:\n%s", got, w)
	}
}
