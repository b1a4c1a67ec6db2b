package artifact

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	modelspec "github.com/modelpack/model-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/errdef"
)

const (
	nfc = "caf\u00e9.json"  // é as one code point
	nfd = "cafe\u0301.json" // e, then a combining acute accent
)

// Two signed files that one filesystem keeps apart and another folds into
// one are refused for the second, before anything is fetched; the plan
// for a byte-for-byte filesystem keeps both.
func TestWithFoldingRefusesNamesThatFoldTogether(t *testing.T) {
	t.Parallel()
	raw := func(p string) ocispec.Descriptor { return rawLayer(t, p, []byte(p)) }
	tests := []struct {
		name   string
		layers []ocispec.Descriptor
		// refusedBy are the foldings that refuse the plan.
		refusedBy []Folding
	}{
		{"case only", []ocispec.Descriptor{raw("README.md"), raw("readme.md")}, []Folding{{Case: true}, Portable}},
		{"case of a directory", []ocispec.Descriptor{raw("Tokenizer/a.txt"), raw("tokenizer/b.txt")}, []Folding{{Case: true}, Portable}},
		{"file and a directory by case", []ocispec.Descriptor{raw("weights"), raw("WEIGHTS/part1")}, []Folding{{Case: true}, Portable}},
		{"non-ASCII case", []ocispec.Descriptor{raw("\u00c9t\u00e9.bin"), raw("\u00e9t\u00e9.bin")}, []Folding{{Case: true}, Portable}},
		{"Kelvin sign", []ocispec.Descriptor{raw("\u212a.bin"), raw("k.bin")}, []Folding{{Case: true}, Portable}},
		{"normalisation only", []ocispec.Descriptor{raw(nfc), raw(nfd)}, []Folding{{Unicode: true}, Portable}},
		{"normalisation of a directory", []ocispec.Descriptor{raw("caf\u00e9/a"), raw("cafe\u0301/b")}, []Folding{{Unicode: true}, Portable}},
		{"distinct names", []ocispec.Descriptor{raw("a.bin"), raw("b.bin"), raw("dir/a.bin")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPlan(t, Limits{}, tc.layers...)
			for _, f := range []Folding{{}, {Case: true}, {Unicode: true}, Portable} {
				_, err := p.WithFolding(f)
				refused := false
				for _, r := range tc.refusedBy {
					refused = refused || r == f
				}
				switch {
				case refused && !errors.Is(err, errdef.ErrUnsafePath):
					t.Errorf("filesystem that %s: WithFolding = %v, want ErrUnsafePath", f, err)
				case refused && !strings.Contains(err.Error(), f.String()):
					t.Errorf("filesystem that %s: the error does not say why: %v", f, err)
				case !refused && err != nil:
					t.Errorf("filesystem that %s: WithFolding = %v, want both files", f, err)
				}
			}
		})
	}
}

// A partial pull folds the unselected raw files too, as it counts them
// as duplicates: a tar entry may not take a folded spelling of their name.
func TestFoldingCoversTarEntriesAndUnselectedFiles(t *testing.T) {
	t.Parallel()
	tarBlob := makeTar(t, reg("extra/Model.safetensors", "not the signed weights"))
	p := mustPlan(t, Limits{},
		rawLayer(t, "extra/model.safetensors", []byte("signed weights")),
		mpLayer(t, modelspec.MediaTypeModelWeight, "extra", tarBlob, 0, -1))
	sel, err := p.Select([]string{"extra/Model.safetensors"})
	if err != nil {
		t.Fatal(err)
	}
	for _, plan := range []*Plan{p, sel} {
		folded, err := plan.WithFolding(Portable)
		if err != nil {
			t.Fatalf("WithFolding: %v", err)
		}
		parent, staging := newStaging(t)
		u := newUnpacker(t, staging, folded)
		tarEntry := folded.Entries[len(folded.Entries)-1]
		err = u.Write(context.Background(), tarEntry, bytes.NewReader(tarBlob), nil)
		if !errors.Is(err, errdef.ErrUnsafePath) || !strings.Contains(err.Error(), "extra/model.safetensors") {
			t.Errorf("partial %v: tar entry folding onto a raw file: %v, want ErrUnsafePath naming it", plan.Partial(), err)
		}
		assertContained(t, parent)
		if got := readTree(t, staging); len(got) != 0 {
			t.Errorf("partial %v: written: %v", plan.Partial(), got)
		}
		// Byte for byte, the two names are different files.
		parent, staging = newStaging(t)
		u = newUnpacker(t, staging, plan)
		if err := u.Write(context.Background(), tarEntry, bytes.NewReader(tarBlob), nil); err != nil {
			t.Errorf("partial %v, no folding: %v", plan.Partial(), err)
		}
		assertContained(t, parent)
	}
}
