package oms

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/vessel-oci/vessel/attest"
)

// SignOptions are the settings of Sign; the zero value signs every file
// with sha256, one digest per file, refusing symbolic links.
type SignOptions struct {
	// IgnorePaths are model-relative paths (with their subtrees) to leave
	// out, besides .git, .gitignore, .gitattributes and .github.
	IgnorePaths []string
	// SignaturePath is where the bundle will be written; it is left out
	// when it lies inside the model.
	SignaturePath string
	// AllowSymlinks follows symbolic links and hashes their targets.
	AllowSymlinks bool
	// HashType is HashSHA256 (default), HashBLAKE2b or HashBLAKE3.
	HashType string
	// Method is MethodFiles (default) or MethodShards.
	Method string
	// ShardSize is the shard size with MethodShards; <= 0 means
	// DefaultShardSize.
	ShardSize int64
	// Concurrency is how many files (or shards) are hashed at once; <= 0
	// means 4.
	Concurrency int
	// Logger receives warnings (links out of the model); nil discards.
	Logger *slog.Logger
}

// maxResources bounds the files and shards one bundle lists (each costs
// memory while the model is hashed); BundleLimit bounds the bundle.
const maxResources = 100_000

// Sign hashes the model at path (a directory, or a single file) and signs
// the OMS statement with signer; it returns the bundle (JSON), in the
// format model_signing writes for `sign key`.
func Sign(ctx context.Context, path string, signer attest.Signer, opts SignOptions) ([]byte, error) {
	ser := Serialization{Method: opts.Method, HashType: opts.HashType, AllowSymlinks: opts.AllowSymlinks}
	if ser.Method == "" {
		ser.Method = MethodFiles
	}
	if ser.HashType == "" {
		ser.HashType = HashSHA256
	}
	if ser.Method == MethodShards {
		ser.ShardSize = opts.ShardSize
		if ser.ShardSize <= 0 {
			ser.ShardSize = DefaultShardSize
		}
	}
	ser.IgnorePaths = append(DefaultIgnorePaths(), opts.IgnorePaths...)
	if opts.SignaturePath != "" {
		if rel, ok := inside(path, opts.SignaturePath); ok {
			ser.IgnorePaths = append(ser.IgnorePaths, rel)
		}
	}
	ser, err := ser.check()
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	if err := checkSigner(signer); err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}

	resources, err := hashModel(ctx, path, ser, opts.Concurrency, logger(opts.Logger))
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	st, err := Statement(ModelName(path), resources, ser)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	b, err := SignStatement(ctx, signer, st)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	if err := CheckBundleSize(b, len(resources), NameBytes(resources)); err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	return b, nil
}

// hashModel enumerates and hashes the model at path as ser says, leaving
// out ser.IgnorePaths, and returns its resources in enumeration order.
func hashModel(ctx context.Context, path string, ser Serialization, limit int, log *slog.Logger) ([]Resource, error) {
	files, refused, _, err := scan(ctx, path, ser.IgnorePaths, ser.AllowSymlinks, log)
	if err != nil {
		return nil, err
	}
	if len(refused) > 0 {
		return nil, refused[0].err
	}
	var spans []span
	for i := range files {
		if ser.Method == MethodShards {
			spans = append(spans, ranges(&files[i], ser.ShardSize)...)
		} else {
			spans = append(spans, span{file: &files[i], end: -1})
		}
		if len(spans) > maxResources {
			return nil, fmt.Errorf("%w: more than %d files or shards (use a larger shard size)", ErrUnsupported, maxResources)
		}
	}
	if len(spans) == 0 {
		return nil, ErrEmptyModel
	}
	digests, err := hashSpans(ctx, spans, ser.HashType, limit)
	if err != nil {
		return nil, err
	}
	resources := make([]Resource, len(spans))
	for i, s := range spans {
		name := s.file.name
		if s.end >= 0 {
			name = fmt.Sprintf("%s:%d:%d", name, s.start, s.end)
		}
		resources[i] = Resource{Name: name, Digest: hex.EncodeToString(digests[i])}
	}
	return resources, nil
}

// SignStatement signs an OMS statement (see Statement) into a bundle whose
// verification material is publicKey.hint, the hex sha256 of the key's PEM,
// as the reference writes it.
func SignStatement(ctx context.Context, signer attest.Signer, statement []byte) ([]byte, error) {
	if err := checkSigner(signer); err != nil {
		return nil, err
	}
	return signer.Sign(ctx, statement, attest.PEMHint)
}

// checkSigner accepts the key types of the OMS algorithm registry: ECDSA
// P-256, P-384 and P-521 (the reference verifies no other). A keyless
// signer signs with an ECDSA key of its own.
func checkSigner(s attest.Signer) error {
	pub, err := s.PublicKey()
	if errors.Is(err, attest.ErrKeyless) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", attest.ErrKey, err)
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		return fmt.Errorf("%w: %T key: OMS signs with ECDSA P-256, P-384 or P-521 keys", ErrUnsupported, pub)
	}
	return nil
}

// ModelName is the subject name OMS gives the model at path: its base name
// (a directory's, or a single file's), as the reference computes it.
func ModelName(path string) string {
	name := filepath.Base(filepath.Clean(path))
	if name == "." || name == ".." || name == string(filepath.Separator) {
		if abs, err := filepath.Abs(path); err == nil {
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				abs = real
			}
			name = filepath.Base(abs)
		}
	}
	if name == "" || name == "." || name == string(filepath.Separator) {
		return "model"
	}
	return name
}

// inside reports whether file lies inside the model directory root, and
// its model-relative path (symbolic links resolved on both sides).
func inside(root, file string) (string, bool) {
	realRoot, err := realPath(root)
	if err != nil {
		return "", false
	}
	realFile, err := realPath(file)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(realRoot, realFile)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// realPath is the absolute path with links resolved; a file that does not
// exist yet is resolved through its directory.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
