package workflow

import (
	"context"
	"fmt"
	"path"
	"sort"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/oms"
	"github.com/vessel-oci/vessel/registry"
)

// OMSSignature is a verified OpenSSF Model Signing bundle of a model whose
// signed files are exactly the model's files.
type OMSSignature struct {
	Digest digest.Digest `json:"digest"`
	Signer string        `json:"signer"`
	Files  int           `json:"files"`
	bundle []byte
	// pending are signed files expected from tar layers, checked once
	// they are unpacked.
	pending map[string]string
}

// rawDigests maps each raw layer's file to its sha256 (the layer digest:
// no weight is read again) and reports whether the model has tar layers.
func rawDigests(p *artifact.Plan) (map[string]string, bool, error) {
	files := map[string]string{}
	hasTar := false
	for _, e := range p.Entries {
		if e.Format != artifact.FormatRaw {
			hasTar = true
			continue
		}
		if e.Layer.Digest.Algorithm() != digest.SHA256 {
			return nil, false, fmt.Errorf("%w: layer %s is not sha256", oms.ErrUnsupported, e.Layer.Digest)
		}
		files[e.Path] = e.Layer.Digest.Encoded()
	}
	return files, hasTar, nil
}

// modelFiles lists every file of m with its sha256: raw layers from the
// manifest, tar layers by streaming them once (checked against their
// digests, hashing each file as it passes, writing nothing).
func modelFiles(ctx context.Context, repo Source, m *Resolved) (map[string]string, error) {
	files, hasTar, err := rawDigests(m.Plan)
	if err != nil || !hasTar {
		return files, err
	}
	h := artifact.NewHasher(m.Plan)
	for _, e := range m.Plan.Entries {
		if e.Format == artifact.FormatRaw {
			continue
		}
		rc, err := repo.FetchBlob(ctx, e.Layer)
		if err != nil {
			return nil, err
		}
		err = h.Write(ctx, e, rc, nil)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	for name, d := range h.TarFiles() {
		files[name] = d.Encoded()
	}
	return files, nil
}

// signOMS attaches an OMS signature of m's files: those given (a push's
// own), else read from m.
func signOMS(ctx context.Context, repo Repository, m *Resolved, signer attest.Signer, pushed []File) (digest.Digest, error) {
	var rs []oms.Resource
	if pushed != nil {
		rs = make([]oms.Resource, len(pushed))
		for i, f := range pushed {
			rs[i] = oms.Resource{Name: f.Path, Digest: f.Digest.Encoded(), Algorithm: oms.HashSHA256}
		}
	} else {
		files, err := modelFiles(ctx, repo, m)
		if err != nil {
			return "", err
		}
		rs = make([]oms.Resource, 0, len(files))
		for name, d := range files {
			rs = append(rs, oms.Resource{Name: name, Digest: d, Algorithm: oms.HashSHA256})
		}
	}
	name := path.Base(repoName(m.Ref))
	ser := oms.Serialization{Method: oms.MethodFiles, HashType: oms.HashSHA256, IgnorePaths: oms.DefaultIgnorePaths()}
	stmt, err := oms.Statement(name, rs, ser)
	if err != nil {
		return "", err
	}
	bundle, err := oms.SignStatement(ctx, signer, stmt)
	if err != nil {
		return "", err
	}
	if err := oms.CheckBundleSize(bundle, len(rs), oms.NameBytes(rs)); err != nil {
		return "", err
	}
	return attachBundle(ctx, repo, m, bundle, oms.PredicateType)
}

// omsBundleLimit is the most an OMS bundle of m may be (oms.BundleLimit),
// from its manifest alone: raw layers are one file each; an uncompressed
// tar layer holds at most one file per 512 bytes, and its names take bytes
// of it; a compressed one bounds nothing, so it allows the ceiling.
func omsBundleLimit(m *Resolved) int64 {
	files, names := 0, int64(0)
	for _, e := range m.Plan.Entries {
		switch e.Format {
		case artifact.FormatRaw:
			files++
			names += int64(len(e.Path))
		case artifact.FormatTar:
			files += int(min(e.Layer.Size/512, oms.MaxBundleSize))
			names += e.Layer.Size
		default:
			return oms.MaxBundleSize
		}
	}
	return oms.BundleLimit(files, names)
}

func repoName(r registry.Reference) string {
	if r.IsLayout() {
		return r.Layout
	}
	return r.Repository
}

// checkOMS verifies an OMS bundle with the scope's verifiers and compares its
// signed files with the model: raw layers now, from the manifest; files
// inside tar layers after they are unpacked (kept in pending).
func checkOMS(bundle []byte, m *Resolved, trust verifiers) (*OMSSignature, error) {
	res, signed, err := oms.VerifySignedFiles(bundle, trust.modelSignature())
	if err != nil {
		return nil, err
	}
	if res.Serialization.HashType != oms.HashSHA256 {
		return nil, fmt.Errorf("%w: OMS signature hashes files with %s; only sha256 can be compared with layer digests", oms.ErrUnsupported, res.Serialization.HashType)
	}
	raw, hasTar, err := rawDigests(m.Plan)
	if err != nil {
		return nil, err
	}
	var diff []string
	for name, d := range raw {
		switch got, ok := signed[name]; {
		case !ok:
			diff = append(diff, name+" is not signed")
		case got != d:
			diff = append(diff, fmt.Sprintf("%s is sha256:%s, signed as sha256:%s", name, d, got))
		}
		delete(signed, name)
	}
	if !hasTar {
		for name := range signed {
			diff = append(diff, name+" is signed but not in the model")
		}
	}
	if err := mismatch(diff); err != nil {
		return nil, err
	}
	sig := &OMSSignature{Signer: res.Signer, Files: res.Files, bundle: bundle}
	if hasTar {
		sig.pending = signed
	}
	return sig, nil
}

// checkUnpacked compares the files unpacked from tar layers with what the
// OMS signature says of them.
func (s *OMSSignature) checkUnpacked(got map[string]digest.Digest) error {
	if s == nil || s.pending == nil {
		return nil
	}
	var diff []string
	found := 0 // got's names that are signed; no copy of pending is made to tick them off
	for name, d := range got {
		switch w, ok := s.pending[name]; {
		case !ok:
			diff = append(diff, name+" is not signed")
			continue
		case w != d.Encoded():
			diff = append(diff, fmt.Sprintf("%s is %s, signed as sha256:%s", name, d, w))
		}
		found++
	}
	if found < len(s.pending) {
		for name := range s.pending {
			if _, ok := got[name]; !ok {
				diff = append(diff, name+" is signed but not in the model")
			}
		}
	}
	return mismatch(diff)
}

func mismatch(diff []string) error {
	if len(diff) == 0 {
		return nil
	}
	sort.Strings(diff)
	return fmt.Errorf("%w: OMS signature does not match the model: %v", errdef.ErrModelMismatch, diff)
}

// checkSelected: every signed file of the tar layers that the plan's
// selection takes was written. Reading whole layers, a file missing from
// them would otherwise go unnoticed in a partial pull; fetching by an
// index, so would one the index leaves out.
func (s *OMSSignature) checkSelected(got map[string]digest.Digest, plan *artifact.Plan) error {
	if s == nil || s.pending == nil {
		return nil
	}
	var diff []string
	for name := range s.pending {
		if _, ok := got[name]; !ok && plan.Selects(name) {
			diff = append(diff, name+" is signed but was not in the model's layers")
		}
	}
	return mismatch(diff)
}
