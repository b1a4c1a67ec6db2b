package oms

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vessel-oci/vessel/errdef"
)

// Well-known values of the OMS format.
const (
	// PredicateType is the OMS v1.0 predicate type.
	PredicateType = "https://model_signing/signature/v1.0"
	// LegacyPredicateType is the deprecated predicate of model_signing
	// v0.2.0 (file digests as statement subjects); it is verified, never
	// produced.
	LegacyPredicateType = "https://model_signing/Digests/v0.1"

	// MethodFiles hashes each file whole; MethodShards hashes byte ranges.
	MethodFiles  = "files"
	MethodShards = "shards"

	// Hash types of the OMS algorithm registry.
	HashSHA256  = "sha256"
	HashBLAKE2b = "blake2b" // BLAKE2b-512
	HashBLAKE3  = "blake3"  // 256-bit output

	// DefaultShardSize is the spec's (and the reference's) shard size.
	DefaultShardSize = 1_000_000_000

	// MaxBundleSize is the ceiling of every OMS bundle: the cap of a reader
	// that does not know the model yet (verify-dir reads the signature
	// file first), and the most BundleLimit allows.
	MaxBundleSize = 64 << 20

	statementType = "https://in-toto.io/Statement/v1"
)

// DefaultIgnorePaths are left out of every model at its top level.
func DefaultIgnorePaths() []string {
	return []string{".git", ".gitattributes", ".github", ".gitignore"}
}

// Resource is one signed file, or one byte range of a file
// ("path:start:end") with shard serialization.
type Resource struct {
	Name string `json:"name"`
	// Digest is the lowercase hex digest of the file or range.
	Digest string `json:"digest"`
	// Algorithm is the hash type; for shards the reference writes
	// "<hash>-sharded-<size>", which Statement fills in when it is empty.
	Algorithm string `json:"algorithm"`
}

// Serialization records how a model was enumerated and hashed.
type Serialization struct {
	// Method is MethodFiles or MethodShards.
	Method string `json:"method"`
	// HashType is HashSHA256, HashBLAKE2b or HashBLAKE3.
	HashType string `json:"hash_type"`
	// ShardSize is the byte range size with MethodShards.
	ShardSize int64 `json:"shard_size,omitempty"`
	// AllowSymlinks records whether symbolic links were followed.
	AllowSymlinks bool `json:"allow_symlinks"`
	// IgnorePaths are the model-relative paths left out (sorted).
	IgnorePaths []string `json:"ignore_paths,omitempty"`
}

// hashSize is the digest length of each supported hash type, in bytes.
var hashSize = map[string]int{HashSHA256: 32, HashBLAKE2b: 64, HashBLAKE3: 32}

// check validates s and returns it with its ignore paths sorted and unique.
func (s Serialization) check() (Serialization, error) {
	if _, ok := hashSize[s.HashType]; !ok {
		return s, fmt.Errorf("%w: hash type %q (want sha256, blake2b or blake3)", ErrUnsupported, s.HashType)
	}
	switch s.Method {
	case MethodFiles:
		if s.ShardSize != 0 {
			return s, fmt.Errorf("%w: shard size %d with method files", ErrUnsupported, s.ShardSize)
		}
	case MethodShards:
		if s.ShardSize <= 0 || s.ShardSize > maxShardSize {
			return s, fmt.Errorf("%w: shard size %d (want 1 to %d)", ErrUnsupported, s.ShardSize, int64(maxShardSize))
		}
		if s.HashType == HashBLAKE3 {
			// The reference hashes whole files with blake3 whatever it is
			// asked, so it could never verify blake3 shards.
			return s, fmt.Errorf("%w: blake3 with shards (the reference hashes blake3 files whole)", ErrUnsupported)
		}
	default:
		return s, fmt.Errorf("%w: serialization method %q (want files or shards)", ErrUnsupported, s.Method)
	}
	var ignore []string
	for _, p := range s.IgnorePaths {
		c, err := cleanIgnorePath(p)
		if err != nil {
			return s, err
		}
		ignore = append(ignore, c)
	}
	slices.Sort(ignore)
	s.IgnorePaths = slices.Compact(ignore)
	return s, nil
}

// maxShardSize keeps shard sizes exact through the float64 the reference's
// protobuf Struct turns them into.
const maxShardSize = 1 << 53

// shardAlgorithm is the reference's algorithm name for a sharded digest.
func shardAlgorithm(hashType string, size int64) string {
	return hashType + "-sharded-" + strconv.FormatInt(size, 10)
}

// acceptsAlgorithm reports whether a resource's algorithm fits s: the hash
// type, or for shards also the reference's "<hash>-sharded-<size>".
func (s Serialization) acceptsAlgorithm(alg string) bool {
	return alg == s.HashType || (s.Method == MethodShards && alg == shardAlgorithm(s.HashType, s.ShardSize))
}

// Statement builds the in-toto statement an OMS bundle signs, from digests
// already known: subject name is the model's (directory or file) base name,
// resources are sorted by name, and the subject digest is the root digest
// (sha256 over the raw resource digests in that order). Names must be
// canonical relative POSIX paths ("." for a single-file model).
func Statement(name string, resources []Resource, ser Serialization) ([]byte, error) {
	if name == "" {
		return nil, fmt.Errorf("statement: empty model name")
	}
	ser, err := ser.check()
	if err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	if len(resources) == 0 {
		return nil, fmt.Errorf("statement: %w", ErrEmptyModel)
	}
	rs := slices.Clone(resources)
	for i := range rs {
		r := &rs[i]
		if err := checkResourceName(r.Name, ser); err != nil {
			return nil, fmt.Errorf("statement: resource %q: %w", r.Name, err)
		}
		if r.Algorithm == "" {
			r.Algorithm = ser.HashType
			if ser.Method == MethodShards {
				r.Algorithm = shardAlgorithm(ser.HashType, ser.ShardSize)
			}
		} else if !ser.acceptsAlgorithm(r.Algorithm) {
			return nil, fmt.Errorf("statement: resource %q: algorithm %q does not fit hash type %s", r.Name, r.Algorithm, ser.HashType)
		}
		if b, err := hex.DecodeString(r.Digest); err != nil || len(b) != hashSize[ser.HashType] || strings.ToLower(r.Digest) != r.Digest {
			return nil, fmt.Errorf("statement: resource %q: digest %q is not a lowercase hex %s digest", r.Name, r.Digest, ser.HashType)
		}
	}
	// Code point order of valid UTF-8 is byte order.
	slices.SortFunc(rs, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(rs); i++ {
		if rs[i].Name == rs[i-1].Name {
			return nil, fmt.Errorf("statement: resource %q listed twice", rs[i].Name)
		}
	}
	root := sha256.New()
	for _, r := range rs {
		b, _ := hex.DecodeString(r.Digest)
		root.Write(b)
	}
	st := statementJSON{
		Type:          statementType,
		Subject:       []subjectJSON{{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(root.Sum(nil))}}},
		PredicateType: PredicateType,
		Predicate:     predicateJSON{Resources: rs, Serialization: ser},
	}
	b, err := encodeStatement(st)
	if err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	return b, nil
}

// encodeStatement writes st as one json.Encoder (no HTML escaping) would,
// but a resource at a time into a buffer sized for the whole: encoding it
// in one call grows the encoder's pooled buffer and then ours by doubling,
// which for 100,000 files (12 MB) held about 36 MB at once.
func encodeStatement(st statementJSON) ([]byte, error) {
	rs := st.Predicate.Resources
	size := 1024 + len(st.Subject[0].Name)
	for _, r := range rs {
		size += len(`{"name":"","digest":"","algorithm":""},`) + len(r.Name) + len(r.Digest) + len(r.Algorithm) + 8
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	put := func(v any) error {
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		return nil
	}
	// The fields up to the predicate, in statementJSON's order.
	if err := put(struct {
		Type          string        `json:"_type"`
		Subject       []subjectJSON `json:"subject"`
		PredicateType string        `json:"predicateType"`
	}{st.Type, st.Subject, st.PredicateType}); err != nil {
		return nil, err
	}
	buf.Truncate(buf.Len() - 1) // the closing brace
	buf.WriteString(`,"predicate":{"resources":[`)
	for i, r := range rs {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := put(r); err != nil {
			return nil, err
		}
	}
	buf.WriteString(`],"serialization":`)
	if err := put(st.Predicate.Serialization); err != nil {
		return nil, err
	}
	buf.WriteString("}}")
	return buf.Bytes(), nil
}

type statementJSON struct {
	Type          string        `json:"_type"`
	Subject       []subjectJSON `json:"subject"`
	PredicateType string        `json:"predicateType"`
	Predicate     predicateJSON `json:"predicate"`
}

type subjectJSON struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

type predicateJSON struct {
	Resources     []Resource    `json:"resources"`
	Serialization Serialization `json:"serialization"`
}

// checkResourceName checks that a name a signer produces is canonical.
func checkResourceName(name string, ser Serialization) error {
	file := name
	if ser.Method == MethodShards {
		f, start, end, ok := splitShardName(name)
		if !ok {
			return fmt.Errorf("not a shard name (path:start:end)")
		}
		if start%ser.ShardSize != 0 || end-start > ser.ShardSize {
			return fmt.Errorf("range %d:%d does not fit shard size %d", start, end, ser.ShardSize)
		}
		file = f
	}
	c, err := canonicalName(file)
	if err != nil {
		return err
	}
	if c != file {
		return fmt.Errorf("not canonical (want %q)", c)
	}
	return nil
}

// canonicalName turns a resource path into the canonical relative POSIX
// form (as Python's PurePosixPath does: "./a//b/" is "a/b"), refusing
// absolute paths, parent traversal, NUL and invalid UTF-8.
func canonicalName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("empty path")
	case !utf8.ValidString(name) || strings.ContainsRune(name, 0):
		return "", fmt.Errorf("path is not valid UTF-8 text")
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("absolute path")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("path leaves the model (..)")
		}
	}
	return path.Clean(name), nil
}

// cleanIgnorePath validates an ignore path given by the user or a signer.
func cleanIgnorePath(p string) (string, error) {
	c, err := canonicalName(strings.ReplaceAll(p, "\\", "/"))
	if err == nil && c == "." {
		err = fmt.Errorf("the whole model")
	}
	if err != nil {
		return "", fmt.Errorf("ignore path %q: %w", p, err)
	}
	return c, nil
}

// splitShardName splits "path:start:end" at its last two colons (a path
// may hold colons), with start < end.
func splitShardName(name string) (file string, start, end int64, ok bool) {
	i := strings.LastIndexByte(name, ':')
	if i < 0 {
		return "", 0, 0, false
	}
	j := strings.LastIndexByte(name[:i], ':')
	if j < 0 {
		return "", 0, 0, false
	}
	start, ok1 := parseOffset(name[j+1 : i])
	end, ok2 := parseOffset(name[i+1:])
	if !ok1 || !ok2 || start >= end {
		return "", 0, 0, false
	}
	return name[:j], start, end, true
}

func parseOffset(s string) (int64, bool) {
	if s == "" || len(s) > 18 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// signedManifest is what a verified statement says about the model.
type signedManifest struct {
	predicateType string
	model         string // subject name, informational
	root          string // subject sha256 (hex); empty for the legacy predicate
	ser           Serialization
	files         map[string]*signedFile
	resources     int
}

// signedFile is one signed file: its digest, or its shards sorted by start.
type signedFile struct {
	digest []byte
	shards []shard
}

type shard struct {
	start, end int64
	digest     []byte
}

// parseStatement reads and checks a signed in-toto statement as the
// reference does: in-toto v1, the OMS predicate (or the legacy one), one
// subject whose sha256 is the root digest of the resources in their order.
func parseStatement(payload []byte) (*signedManifest, error) {
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("%w: statement: %v", errdef.ErrBadBundle, err)
	}
	if st.Type != statementType {
		return nil, fmt.Errorf("%w: statement type %q, want %s", errdef.ErrBadBundle, st.Type, statementType)
	}
	m := &signedManifest{predicateType: st.PredicateType, files: map[string]*signedFile{}}
	switch st.PredicateType {
	case PredicateType:
	case LegacyPredicateType:
		// v0.2.0: each subject is a file and its sha256; no serialization.
		m.ser = Serialization{Method: MethodFiles, HashType: HashSHA256}
		for _, s := range st.Subject {
			if err := m.add(s.Name, HashSHA256, s.Digest["sha256"]); err != nil {
				return nil, err
			}
		}
		return m.complete()
	default:
		return nil, fmt.Errorf("%w: predicate type %q is not %s", errdef.ErrBadBundle, st.PredicateType, PredicateType)
	}
	if len(st.Subject) != 1 {
		return nil, fmt.Errorf("%w: statement has %d subjects, want 1", errdef.ErrBadBundle, len(st.Subject))
	}
	m.model, m.root = st.Subject[0].Name, st.Subject[0].Digest["sha256"]

	var pred struct {
		Resources []struct {
			Name      *string `json:"name"`
			Algorithm *string `json:"algorithm"`
			Digest    *string `json:"digest"`
		} `json:"resources"`
		Serialization *struct {
			Method        *string      `json:"method"`
			HashType      *string      `json:"hash_type"`
			ShardSize     *json.Number `json:"shard_size"`
			AllowSymlinks *bool        `json:"allow_symlinks"`
			IgnorePaths   []string     `json:"ignore_paths"`
		} `json:"serialization"`
	}
	if err := json.Unmarshal(st.Predicate, &pred); err != nil {
		return nil, fmt.Errorf("%w: predicate: %v", errdef.ErrBadBundle, err)
	}
	s := pred.Serialization
	if s == nil || s.Method == nil || s.HashType == nil || s.AllowSymlinks == nil {
		return nil, fmt.Errorf("%w: predicate has no serialization method, hash_type and allow_symlinks", errdef.ErrBadBundle)
	}
	m.ser = Serialization{Method: *s.Method, HashType: *s.HashType, AllowSymlinks: *s.AllowSymlinks}
	if _, ok := hashSize[m.ser.HashType]; !ok {
		return nil, fmt.Errorf("%w: hash type %q is not in the OMS algorithm registry", errdef.ErrBadBundle, m.ser.HashType)
	}
	switch m.ser.Method {
	case MethodFiles:
	case MethodShards:
		// The reference's protobuf Struct writes 8 as 8.0.
		var f float64
		var err error
		if s.ShardSize != nil {
			f, err = s.ShardSize.Float64()
		}
		if s.ShardSize == nil || err != nil || f < 1 || f > maxShardSize || f != math.Trunc(f) {
			return nil, fmt.Errorf("%w: shards without a positive whole shard_size", errdef.ErrBadBundle)
		}
		m.ser.ShardSize = int64(f)
	default:
		return nil, fmt.Errorf("%w: serialization method %q is not files or shards", errdef.ErrBadBundle, m.ser.Method)
	}
	m.ser.IgnorePaths = s.IgnorePaths

	root := sha256.New()
	for _, r := range pred.Resources {
		if r.Name == nil || r.Algorithm == nil || r.Digest == nil {
			return nil, fmt.Errorf("%w: resource without name, algorithm and digest", errdef.ErrBadBundle)
		}
		if !m.ser.acceptsAlgorithm(*r.Algorithm) {
			return nil, fmt.Errorf("%w: resource %q: algorithm %q does not fit hash type %s", errdef.ErrBadBundle, *r.Name, *r.Algorithm, m.ser.HashType)
		}
		if err := m.add(*r.Name, m.ser.HashType, *r.Digest); err != nil {
			return nil, err
		}
		b, _ := hex.DecodeString(*r.Digest)
		root.Write(b)
	}
	if got := hex.EncodeToString(root.Sum(nil)); got != m.root {
		return nil, fmt.Errorf("%w: subject digest %q is not the root digest of the resources (%s)", errdef.ErrBadBundle, m.root, got)
	}
	return m.complete()
}

// add records one resource of the statement.
func (m *signedManifest) add(name, hashType, digestHex string) error {
	d, err := hex.DecodeString(digestHex)
	if err != nil || len(d) != hashSize[hashType] {
		return fmt.Errorf("%w: resource %q: digest %q is not a hex %s digest", errdef.ErrBadBundle, name, digestHex, hashType)
	}
	file := name
	var start, end int64
	if m.ser.Method == MethodShards {
		var ok bool
		if file, start, end, ok = splitShardName(name); !ok {
			return fmt.Errorf("%w: resource %q is not a shard name (path:start:end)", errdef.ErrBadBundle, name)
		}
	}
	file, err = canonicalName(file)
	if err != nil {
		return fmt.Errorf("%w: resource %q: %v", errdef.ErrBadBundle, name, err)
	}
	f := m.files[file]
	if f == nil {
		f = &signedFile{}
		m.files[file] = f
	}
	m.resources++
	if m.ser.Method == MethodFiles {
		if f.digest != nil {
			return fmt.Errorf("%w: resource %q listed twice", errdef.ErrBadBundle, name)
		}
		f.digest = d
		return nil
	}
	for _, s := range f.shards {
		if s.start == start && s.end == end {
			return fmt.Errorf("%w: resource %q listed twice", errdef.ErrBadBundle, name)
		}
	}
	f.shards = append(f.shards, shard{start: start, end: end, digest: d})
	return nil
}

func (m *signedManifest) complete() (*signedManifest, error) {
	if len(m.files) == 0 {
		return nil, fmt.Errorf("%w: the statement signs no files", errdef.ErrBadBundle)
	}
	for _, f := range m.files {
		slices.SortFunc(f.shards, func(a, b shard) int { return cmp.Compare(a.start, b.start) })
	}
	return m, nil
}

// BundleLimit is the largest OMS bundle for a model of files files (or
// shards) whose names add up to nameBytes: what a signer may write, and
// what a reader that knows the model (a pull, from its manifest) accepts.
// It grows with the model, so a bundle of a large dataset stays readable
// while a small model's signature cannot be padded to fill memory, and it
// never exceeds MaxBundleSize. The allowance covers the reference's
// pretty-printed JSON with every non-ASCII name byte escaped, base64
// encoded into the envelope.
func BundleLimit(files int, nameBytes int64) int64 {
	const (
		overhead = 64 << 10 // envelope, verification material, serialization
		perFile  = 256      // {"name": "", "algorithm": "...", "digest": "<hex>"}, indented
		perByte  = 4        // a name byte escaped (3) and base64 encoded (4/3)
	)
	if files < 0 || nameBytes < 0 || int64(files) > MaxBundleSize/perFile || nameBytes > MaxBundleSize/perByte {
		return MaxBundleSize // and no product below can overflow
	}
	return min(overhead+int64(files)*perFile+nameBytes*perByte, MaxBundleSize)
}

// CheckBundleSize refuses a bundle that a reader of the model would refuse
// (a writer calls it before storing one), saying which limit and what to
// do instead.
func CheckBundleSize(bundle []byte, files int, nameBytes int64) error {
	limit := BundleLimit(files, nameBytes)
	if int64(len(bundle)) <= limit {
		return nil
	}
	hint := "sign sub-directories separately (push them as models of their own)"
	if limit == MaxBundleSize {
		hint = fmt.Sprintf("no OMS bundle may exceed %d bytes (oms.MaxBundleSize): %s", int64(MaxBundleSize), hint)
	}
	return fmt.Errorf("%w: the OMS bundle for %d files would be %d bytes, over the %d bytes its readers accept (oms.BundleLimit): %s",
		ErrUnsupported, files, len(bundle), limit, hint)
}

// MinBundleSize is the least an OMS bundle of files files whose names add
// up to nameBytes can be (each resource's name and hex digest, base64
// encoded into the envelope), so a writer can refuse a model too large to
// sign before it moves any bytes.
func MinBundleSize(files int, nameBytes int64) int64 {
	return (int64(files)*(64+40) + nameBytes) * 4 / 3
}

// NameBytes adds up the lengths of the resources' names, for BundleLimit.
func NameBytes(rs []Resource) int64 {
	var n int64
	for _, r := range rs {
		n += int64(len(r.Name))
	}
	return n
}
