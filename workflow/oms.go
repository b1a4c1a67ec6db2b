package workflow

import (
	"context"
	"fmt"
	"path"
	"sort"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/attest"
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
}

// omsResources lists a model's files with their sha256 digests, which for
// raw layers are the layer digests: no weight is read again. Models with
// tar layers have no per-file digests in their manifest, so none.
func omsResources(p *artifact.Plan) ([]oms.Resource, bool) {
	var rs []oms.Resource
	for _, e := range p.Entries {
		if e.Format != artifact.FormatRaw || e.Layer.Digest.Algorithm() != digest.SHA256 {
			return nil, false
		}
		rs = append(rs, oms.Resource{Name: e.Path, Digest: e.Layer.Digest.Encoded(), Algorithm: oms.HashSHA256})
	}
	return rs, true
}

// signOMS attaches an OMS signature of m's files, made from its manifest.
// It returns "" when the model has tar layers (their files' digests are
// not in the manifest).
func signOMS(ctx context.Context, repo *registry.Repository, m *Resolved, signer attest.Signer) (digest.Digest, error) {
	rs, ok := omsResources(m.Plan)
	if !ok {
		return "", nil
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
	return attachBundle(ctx, repo, m, bundle, oms.PredicateType)
}

func repoName(r registry.Reference) string {
	if r.IsLayout() {
		return r.Layout
	}
	return r.Repository
}

// checkOMS verifies an OMS bundle with the scope's keys and compares its
// signed files with the manifest: same paths, same sha256 digests.
func checkOMS(bundle []byte, m *Resolved, keys []attest.TrustedKey) (*OMSSignature, error) {
	res, files, err := oms.VerifySignedFiles(bundle, oms.KeyVerifier(keys...))
	if err != nil {
		return nil, err
	}
	if res.Serialization.HashType != oms.HashSHA256 {
		return nil, fmt.Errorf("%w: OMS signature hashes files with %s; only sha256 can be compared with layer digests", oms.ErrUnsupported, res.Serialization.HashType)
	}
	want, ok := omsResources(m.Plan)
	if !ok {
		return nil, fmt.Errorf("%w: the model has tar layers: its file digests are not in the manifest", oms.ErrUnsupported)
	}
	var diff []string
	for _, r := range want {
		switch got, ok := files[r.Name]; {
		case !ok:
			diff = append(diff, r.Name+" is not signed")
		case got != r.Digest:
			diff = append(diff, fmt.Sprintf("%s is sha256:%s, signed as sha256:%s", r.Name, r.Digest, got))
		}
		delete(files, r.Name)
	}
	for name := range files {
		diff = append(diff, name+" is signed but not in the model")
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		return nil, fmt.Errorf("%w: OMS signature does not match the manifest: %v", oms.ErrMismatch, diff)
	}
	return &OMSSignature{Signer: res.Signer, Files: res.Files, bundle: bundle}, nil
}
