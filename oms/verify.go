package oms

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vessel-oci/vessel/errdef"
)

// VerifyOptions are the settings of Verify; the zero value checks every
// file and fails on any unsigned one.
type VerifyOptions struct {
	// IgnorePaths are model-relative paths (with their subtrees) to leave
	// out, besides the defaults and the bundle's serialization.ignore_paths.
	IgnorePaths []string
	// IgnoreUnsignedFiles accepts files the signature does not list (every
	// signed file is still checked).
	IgnoreUnsignedFiles bool
	// AllowSymlinks follows symbolic links even when the signature says they
	// were not followed when signing (a signature that says they were is
	// followed anyway, as the spec requires).
	AllowSymlinks bool
	// SignaturePath is the bundle's file, left out when inside the model.
	SignaturePath string
	// Concurrency is how many files (or shards) are hashed at once; <= 0
	// means 4.
	Concurrency int
	// Logger receives warnings; nil discards.
	Logger *slog.Logger
}

// Result is what a verification proved.
type Result struct {
	// Method is SigningKey, SigningCertificate or SigningSigstore.
	Method string `json:"method"`
	// Signer is the trusted key's name, the signing certificate's subject,
	// or the keyless identity.
	Signer string `json:"signer"`
	// Issuer is the OIDC issuer of a keyless identity.
	Issuer string `json:"issuer,omitempty"`
	// Certificate is the signing certificate's subject (certificate
	// method).
	Certificate string `json:"certificate,omitempty"`
	// PredicateType is the statement's (LegacyPredicateType for v0.2.0).
	PredicateType string `json:"predicateType"`
	// Model is the statement's subject name; informational only.
	Model string `json:"model,omitempty"`
	// RootDigest is the statement's subject, "sha256:<hex>".
	RootDigest string `json:"rootDigest,omitempty"`
	// Serialization is how the signer hashed the model.
	Serialization Serialization `json:"serialization"`
	// Files is the number of signed files checked; Resources the number of
	// digests (files or shards) compared.
	Files     int `json:"files"`
	Resources int `json:"resources"`
	// Unsigned are files present but not signed, accepted because of
	// IgnoreUnsignedFiles.
	Unsigned []string `json:"unsigned,omitempty"`
}

// Verify checks an OMS bundle (sig, the signature file's content) with v,
// then checks the model at path (a directory or a single file) against the
// signed file list, as `model_signing verify` does. It returns what it
// proved; every failure to verify wraps errdef.ErrBadBundle, errdef.ErrModelMismatch,
// errdef.ErrBadSignature or errdef.ErrUntrusted.
func Verify(ctx context.Context, path string, sig []byte, v Verifier, opts VerifyOptions) (*Result, error) {
	if v == nil {
		return nil, fmt.Errorf("verify %s: %w: no verifier", path, errdef.ErrUntrusted)
	}
	b, err := parseBundle(sig)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	payload, res, err := v.verify(sig, b)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	// Only now, with the signature proven, is the statement worth reading.
	m, err := parseStatement(payload)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	res.PredicateType, res.Model, res.Serialization, res.Resources = m.predicateType, m.model, m.ser, m.resources
	if m.root != "" {
		res.RootDigest = "sha256:" + m.root
	}
	res.Files, res.Unsigned, err = checkModel(ctx, path, m, opts)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	return res, nil
}

// checkModel compares the model on disk with the signed manifest.
func checkModel(ctx context.Context, path string, m *signedManifest, opts VerifyOptions) (int, []string, error) {
	ignore, err := verifyIgnores(path, m, opts)
	if err != nil {
		return 0, nil, err
	}
	files, refused, single, err := scan(ctx, path, ignore, m.ser.AllowSymlinks || opts.AllowSymlinks, logger(opts.Logger))
	if errors.Is(err, ErrRefused) {
		return 0, nil, fmt.Errorf("%w: %w", errdef.ErrModelMismatch, err)
	}
	if err != nil {
		return 0, nil, err
	}
	var unsigned []string
	for _, r := range refused {
		// A link or special file where the signature lists a file (or,
		// for a link to a directory, files under it) is a mismatch; one
		// the signature does not cover is an unsigned file.
		if !opts.IgnoreUnsignedFiles || m.covers(r.name) {
			return 0, nil, fmt.Errorf("%w: %w", errdef.ErrModelMismatch, r.err)
		}
		unsigned = append(unsigned, r.name)
	}
	if single && len(files) == 1 && m.files["."] == nil {
		// The spec names a single file's resource after the file; the
		// reference writes ".". Either is accepted.
		if base := filepath.Base(path); m.files[base] != nil {
			files[0].name = base
		}
	}

	var mis MismatchError
	local := make(map[string]*localFile, len(files))
	var spans []span
	var want [][]byte
	for i := range files {
		f := &files[i]
		local[f.name] = f
		sf := m.files[f.name]
		if sf == nil {
			// A shard serialization has no resource for an empty file.
			if m.ser.Method == MethodShards && f.size == 0 {
				continue
			}
			unsigned = append(unsigned, f.name)
			continue
		}
		if m.ser.Method == MethodFiles {
			spans = append(spans, span{file: f, end: -1})
			want = append(want, sf.digest)
			continue
		}
		rs := ranges(f, m.ser.ShardSize)
		if !sameRanges(rs, sf.shards) {
			mis.Changed = append(mis.Changed, fmt.Sprintf("%s: %d bytes, not the signed shards", f.name, f.size))
			continue
		}
		spans = append(spans, rs...)
		for _, s := range sf.shards {
			want = append(want, s.digest)
		}
	}
	for name := range m.files {
		if local[name] == nil {
			mis.Missing = append(mis.Missing, name)
		}
	}
	slices.Sort(mis.Missing)
	slices.Sort(unsigned)
	if !opts.IgnoreUnsignedFiles {
		mis.Unsigned = unsigned
	}
	// Fail before reading any content when the file lists disagree.
	if len(mis.Missing) > 0 || len(mis.Unsigned) > 0 {
		return 0, nil, &mis
	}
	got, err := hashSpans(ctx, spans, m.ser.HashType, opts.Concurrency)
	if err != nil {
		return 0, nil, err
	}
	for i, s := range spans {
		if !bytes.Equal(got[i], want[i]) {
			name := s.file.name
			if s.end >= 0 {
				name = fmt.Sprintf("%s:%d:%d", name, s.start, s.end)
			}
			mis.Changed = append(mis.Changed, fmt.Sprintf("%s: %s %s, signed %s", name, m.ser.HashType, short(got[i]), short(want[i])))
		}
	}
	if len(mis.Changed) > 0 {
		return 0, nil, &mis
	}
	return len(m.files), unsigned, nil
}

func short(d []byte) string {
	h := hex.EncodeToString(d)
	if len(h) > 16 {
		return h[:16] + ".."
	}
	return h
}

func sameRanges(local []span, signed []shard) bool {
	if len(local) != len(signed) {
		return false
	}
	for i := range local {
		if local[i].start != signed[i].start || local[i].end != signed[i].end {
			return false
		}
	}
	return true
}

// covers reports whether the signature lists name, or files under it.
func (m *signedManifest) covers(name string) bool {
	for f := range m.files {
		if f == name || strings.HasPrefix(f, name+"/") {
			return true
		}
	}
	return false
}

// verifyIgnores combines the paths a verification leaves out: the default
// ones (unless the signature lists files under them, as a signer that did
// not ignore git files makes), the bundle's ignore_paths, the caller's, and
// the signature file. Ignore paths the bundle records that leave the model
// are dropped, as the reference drops them.
func verifyIgnores(path string, m *signedManifest, opts VerifyOptions) ([]string, error) {
	var out []string
	for _, d := range DefaultIgnorePaths() {
		if !m.covers(d) {
			out = append(out, d)
		}
	}
	for _, p := range m.ser.IgnorePaths {
		c, err := canonicalName(p)
		if err != nil {
			continue
		}
		out = append(out, c)
	}
	for _, p := range opts.IgnorePaths {
		c, err := cleanIgnorePath(p)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if opts.SignaturePath != "" {
		if rel, ok := inside(path, opts.SignaturePath); ok {
			out = append(out, rel)
		}
	}
	return out, nil
}

// VerifySignedFiles checks an OMS bundle's signature with v and returns
// what it proved and, for files serialization, the signed digest of each
// file (relative path -> lowercase hex) — without any model on disk. vessel
// uses it to compare a registry model's layer digests with its OMS
// signature before downloading anything.
func VerifySignedFiles(sig []byte, v Verifier) (*Result, map[string]string, error) {
	if v == nil {
		return nil, nil, fmt.Errorf("%w: no verifier", errdef.ErrUntrusted)
	}
	b, err := parseBundle(sig)
	if err != nil {
		return nil, nil, err
	}
	payload, res, err := v.verify(sig, b)
	if err != nil {
		return nil, nil, err
	}
	m, err := parseStatement(payload)
	if err != nil {
		return nil, nil, err
	}
	res.PredicateType, res.Model, res.Serialization, res.Resources = m.predicateType, m.model, m.ser, m.resources
	if m.root != "" {
		res.RootDigest = "sha256:" + m.root
	}
	if m.ser.Method != MethodFiles {
		return res, nil, fmt.Errorf("%w: %s serialization names byte ranges, not files", ErrUnsupported, m.ser.Method)
	}
	files := make(map[string]string, len(m.files))
	for name, f := range m.files {
		files[name] = hex.EncodeToString(f.digest)
	}
	res.Files = len(files)
	return res, files, nil
}
