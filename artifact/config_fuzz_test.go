package artifact

import (
	"errors"
	"testing"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/errdef"
)

// FuzzApplyConfig: a ModelPack config from the registry (size-capped and
// digest-checked, but the pusher's) never panics ApplyConfig, is refused
// as not a model or as a diff ID mismatch, or yields diff IDs that are valid digests, one per
// layer, and for an uncompressed layer the layer's own digest.
func FuzzApplyConfig(f *testing.F) {
	w := []byte("weights")
	tgz := gzipBytes(f, makeTar(f, reg("docs/README", "hi")))
	tarBlob := makeTar(f, reg("code/run.py", "print()"))
	raw := rawLayer(f, "w.bin", w)
	gz := mpLayer(f, modelspec.MediaTypeModelDocGzip, "docs", tgz, 0, -1)
	tr := mpLayer(f, modelspec.MediaTypeModelCode, "code", tarBlob, 0, -1)
	diffGz := digest.FromBytes(makeTar(f, reg("docs/README", "hi")))
	f.Add(modelConfig(f, raw.Digest, diffGz, tr.Digest))
	f.Add(modelConfig(f))
	f.Add(modelConfig(f, raw.Digest, raw.Digest, raw.Digest))
	f.Add([]byte(`{"descriptor":{"name":"m"},"config":{"paramSize":"8b"},"modelfs":{"type":"layers","diffIds":["sha256:00","sha512:1"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := mustPlan(t, Limits{}, raw, gz, tr)
		m, err := p.ApplyConfig(data)
		if err != nil {
			if !errors.Is(err, ErrNotModel) && !errors.Is(err, errdef.ErrVerification) {
				t.Fatalf("refused as neither not-a-model nor a verification failure: %v", err)
			}
			return
		}
		if m == nil || len(m.ModelFS.DiffIDs) == 0 {
			return
		}
		for i, e := range p.Entries {
			if e.DiffID.Validate() != nil {
				t.Fatalf("entry %d: accepted diff ID %q", i, e.DiffID)
			}
			if e.Layer.MediaType != modelspec.MediaTypeModelDocGzip && e.DiffID != e.Layer.Digest {
				t.Fatalf("entry %d (%s): diff ID %s for an uncompressed layer %s", i, e.Layer.MediaType, e.DiffID, e.Layer.Digest)
			}
		}
	})
}
