package oms

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vessel-oci/vessel/internal/testutil"
)

// referenceTestdata is model-transparency/tests/<sub> in testdata/oms.
func referenceTestdata(t *testing.T, sub ...string) string {
	t.Helper()
	return testutil.Testdata(t, append([]string{"oms", "model-transparency", "tests"}, sub...)...)
}

// fixture rebuilds one of the reference's test models (tests/conftest.py,
// as testdata/oms/README.md describes them) and returns its path;
// its base name is the model name the goldens record.
func fixture(t *testing.T, name string) string {
	t.Helper()
	base := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(base, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	switch name {
	case "sample_model_file":
		write("file_model", "This is a simple model")
		return filepath.Join(base, "file_model")
	case "empty_model_file":
		write("empty_file_model", "")
		return filepath.Join(base, "empty_file_model")
	case "sample_model_folder":
		for i := range 2 {
			for j := range 3 {
				write(fmt.Sprintf("sample_model/d%d/f%d%d", i, i, j), fmt.Sprintf("This is file f%d%d in d%d.", i, j, i))
			}
		}
		for i := range 4 {
			write(fmt.Sprintf("sample_model/f%d", i), fmt.Sprintf("This is file f%d in root.", i))
		}
		return filepath.Join(base, "sample_model")
	case "empty_model_folder":
		p := filepath.Join(base, "empty_folder_model")
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	case "model_folder_with_empty_file":
		write("empty_file_inside_model/empty_file", "")
		return filepath.Join(base, "empty_file_inside_model")
	case "deep_model_folder":
		for i := range 4 {
			write(fmt.Sprintf("deep_model/d0/d1/d2/d3/d4/f%d", i), fmt.Sprintf("This is file f%d.", i))
		}
		return filepath.Join(base, "deep_model")
	case "symlink_model_folder":
		write("external", "This is a simple model")
		if err := os.Mkdir(filepath.Join(base, "symlink_model"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(base, "external"), filepath.Join(base, "symlink_model", "symlink_file")); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(base, "symlink_model")
	}
	t.Fatalf("unknown fixture %s", name)
	return ""
}

var fixtures = []string{
	"sample_model_file", "empty_model_file", "sample_model_folder", "empty_model_folder",
	"model_folder_with_empty_file", "deep_model_folder", "symlink_model_folder",
}

// resourcesOf hashes a fixture as the reference's goldens were made
// (symbolic links allowed, no ignore paths).
func resourcesOf(t *testing.T, path string, ser Serialization) []Resource {
	t.Helper()
	rs, err := hashModel(context.Background(), path, ser, 0, slog.New(slog.DiscardHandler))
	if errors.Is(err, ErrEmptyModel) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestReferenceSerializationGoldens: tests/_serialization/testdata: each
// file's (or shard's) digest, one "name:hex" line each, sorted.
func TestReferenceSerializationGoldens(t *testing.T) {
	t.Parallel()
	for _, fx := range fixtures {
		for _, v := range []struct {
			golden string
			ser    Serialization
		}{
			{"file/TestSerializer/" + fx, Serialization{Method: MethodFiles, HashType: HashSHA256, AllowSymlinks: true}},
			{"file_shard/TestSerializer/" + fx, Serialization{Method: MethodShards, HashType: HashSHA256, ShardSize: DefaultShardSize, AllowSymlinks: true}},
			{"file_shard/TestSerializer/" + fx + "_small_shards", Serialization{Method: MethodShards, HashType: HashSHA256, ShardSize: 8, AllowSymlinks: true}},
		} {
			t.Run(v.golden, func(t *testing.T) {
				t.Parallel()
				want := goldenLines(t, referenceTestdata(t, "_serialization", "testdata", v.golden))
				var got []string
				for _, r := range resourcesOf(t, fixture(t, fx), v.ser) {
					got = append(got, r.Name+":"+r.Digest)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

func goldenLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// TestReferencePayloadGoldens: tests/_signing/testdata/signing/TestPayload:
// the statement the reference signs for each fixture equals vessel's,
// compared as the reference compares them (as messages, so key order and
// 8 vs 8.0 do not count). Known differences, each checked below:
//   - resource order: the reference sorts shards by (path parts, start, end)
//     numerically ("f:8:16" before "f:16:23"); vessel sorts names in code
//     point order as spec section 6.4 says. Both verifiers accept either
//     order, and the subject digest follows the order, so for a sharded
//     statement whose orders differ the subject digests differ too;
//   - empty models: the reference's goldens sign zero resources; spec section
//     6.1 says an empty model MUST be rejected, and vessel rejects it.
func TestReferencePayloadGoldens(t *testing.T) {
	t.Parallel()
	for _, fx := range fixtures {
		for _, v := range []struct {
			suffix string
			ser    Serialization
		}{
			{"", Serialization{Method: MethodFiles, HashType: HashSHA256, AllowSymlinks: true}},
			{"_shard", Serialization{Method: MethodShards, HashType: HashSHA256, ShardSize: DefaultShardSize, AllowSymlinks: true}},
			{"_small_shards", Serialization{Method: MethodShards, HashType: HashSHA256, ShardSize: 8, AllowSymlinks: true}},
		} {
			t.Run(fx+v.suffix, func(t *testing.T) {
				t.Parallel()
				var golden payloadJSON
				if err := json.Unmarshal(readAll(t, referenceTestdata(t, "_signing", "testdata", "signing", "TestPayload", fx+v.suffix)), &golden); err != nil {
					t.Fatal(err)
				}
				if got := rootOf(t, golden.Predicate.Resources); got != golden.Subject[0].Digest["sha256"] {
					t.Fatalf("golden subject %s is not its root digest %s", golden.Subject[0].Digest["sha256"], got)
				}
				path := fixture(t, fx)
				st, err := Statement(ModelName(path), resourcesOf(t, path, v.ser), v.ser)
				if len(golden.Predicate.Resources) == 0 {
					if !errors.Is(err, ErrEmptyModel) {
						t.Fatalf("empty model: err = %v, want ErrEmptyModel", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var ours payloadJSON
				if err := json.Unmarshal(st, &ours); err != nil {
					t.Fatal(err)
				}
				if ours.Type != golden.Type || ours.PredicateType != golden.PredicateType || len(ours.Subject) != 1 ||
					ours.Subject[0].Name != golden.Subject[0].Name {
					t.Fatalf("statement header: ours %+v, golden %+v", ours, golden)
				}
				if !equalJSON(t, ours.Predicate.Serialization, golden.Predicate.Serialization) {
					t.Fatalf("serialization: ours %s, golden %s", ours.Predicate.Serialization, golden.Predicate.Serialization)
				}
				if !sortedEqual(ours.Predicate.Resources, golden.Predicate.Resources) {
					t.Fatalf("resources: ours %+v, golden %+v", ours.Predicate.Resources, golden.Predicate.Resources)
				}
				if !slices.IsSortedFunc(ours.Predicate.Resources, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) }) {
					t.Fatalf("resources not sorted by name: %+v", ours.Predicate.Resources)
				}
				root := rootOf(t, ours.Predicate.Resources)
				if ours.Subject[0].Digest["sha256"] != root {
					t.Fatalf("subject %v is not the root digest %s", ours.Subject[0].Digest, root)
				}
				if slices.EqualFunc(ours.Predicate.Resources, golden.Predicate.Resources, func(a, b Resource) bool { return a == b }) &&
					ours.Subject[0].Digest["sha256"] != golden.Subject[0].Digest["sha256"] {
					t.Fatalf("same resources in the same order, different subject: %v vs %v", ours.Subject, golden.Subject)
				}
			})
		}
	}
}

type payloadJSON struct {
	Type    string `json:"_type"`
	Subject []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string `json:"predicateType"`
	Predicate     struct {
		Resources     []Resource      `json:"resources"`
		Serialization json.RawMessage `json:"serialization"`
	} `json:"predicate"`
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// equalJSON compares two JSON values as values (numbers as float64).
func equalJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		t.Fatalf("not JSON: %s / %s", a, b)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

func sortedEqual(a, b []Resource) bool {
	cmp := func(x, y Resource) int { return strings.Compare(x.Name, y.Name) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

func rootOf(t *testing.T, rs []Resource) string {
	t.Helper()
	h := sha256.New()
	for _, r := range rs {
		b, err := hex.DecodeString(r.Digest)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
