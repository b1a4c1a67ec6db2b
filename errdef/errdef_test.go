package errdef_test

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vessel-oci/vessel/errdef"
)

func TestVerificationFailuresWrapOneSentinel(t *testing.T) {
	for _, err := range []error{
		errdef.ErrDigestMismatch, errdef.ErrSizeMismatch, errdef.ErrLimit, errdef.ErrUnsafePath,
		errdef.ErrUnsupportedEntry, errdef.ErrBadSignature, errdef.ErrSubjectMismatch,
		errdef.ErrUntrusted, errdef.ErrBadBundle, errdef.ErrModelMismatch,
	} {
		wrapped := fmt.Errorf("pull x/m:v1: layer a.bin: %w: got sha256:00", err)
		if !errors.Is(wrapped, errdef.ErrVerification) || !errors.Is(wrapped, err) {
			t.Errorf("%q: not a verification failure once wrapped", err)
		}
		if strings.Contains(err.Error(), errdef.ErrVerification.Error()) {
			t.Errorf("%q repeats %q in its message", err, errdef.ErrVerification)
		}
	}
	if errors.Is(errdef.ErrDigestMismatch, errdef.ErrSizeMismatch) {
		t.Error("two sentinels match each other")
	}
	if errors.Is(fmt.Errorf("x: %w", errdef.ErrNotFound), errdef.ErrVerification) {
		t.Error("not found is a verification failure")
	}
}

// ordinary are the sentinels declared outside errdef that are not
// verification failures, and why. A new exported Err variable anywhere in
// vessel fails this test until it wraps ErrVerification or is listed
// here, so no verification failure can become exit code 1 unnoticed.
var ordinary = map[string]string{
	"admission.ErrRefused":          "a pod's model is not admitted: it matches the verification failures it holds (errors.Is still finds them) and also a missing model or a bad reference",
	"artifact.ErrNotModel":          "the artifact is of another kind: a wrong reference, not an attack",
	"artifact.ErrNoMatch":           "--include patterns select nothing: the user's input",
	"artifact.ErrUnsupportedFile":   "a file the pusher's own directory holds cannot be packed",
	"attest.ErrKey":                 "a key file of the user's cannot be read",
	"attest.ErrKeyless":             "a keyless signer was asked for a lasting key: a programming error, not evidence",
	"attest.ErrIdentityToken":       "no OIDC token for keyless signing: the signer's setup, not evidence",
	"fsx.ErrNotRegular":             "a filesystem fact; callers that meet it where content was expected wrap it in ErrUnsafePath",
	"attest.ErrPolicyFile":          "the user's policy file is malformed",
	"oms.ErrUnsupported":            "a request vessel does not implement",
	"oms.ErrRefused":                "a file of the signer's own directory cannot be signed",
	"oms.ErrEmptyModel":             "nothing to sign",
	"registry.ErrBadReference":      "a reference the user typed cannot be parsed",
	"registry.ErrReadOnly":          "an archive cannot be written",
	"registry.ErrTooSlow":           "a transfer failure (the link or the registry), retried by range; nothing wrong was accepted",
	"workflow.ErrDestinationExists": "the pull destination holds files and --force is off",
	"workflow.ErrNoTrust":           "the caller gave no policy: a usage mistake, refused before anything is read",
	"workflow.ErrTooLarge":          "the directory a push was given is more than one model can carry: refused before anything is read",
}

func TestEverySentinelIsClassified(t *testing.T) {
	root := filepath.Join("..")
	fset := token.NewFileSet()
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "testdata", "hack", "e2e", ".git", ".bin", "bin", "errdef":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				for _, name := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(name.Name, "Err") {
						found[f.Name.Name+"."+name.Name] = true
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range found {
		if _, ok := ordinary[name]; !ok {
			t.Errorf("%s: a new sentinel; make it a verification failure in errdef, or list it in ordinary with the reason it is not one", name)
		}
	}
	for name := range ordinary {
		if !found[name] {
			t.Errorf("%s is listed but no longer declared", name)
		}
	}
}

func TestVerifyReader(t *testing.T) {
	data := []byte("weights")
	desc := ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"exact", data, nil},
		{"short", data[:3], errdef.ErrSizeMismatch},
		{"trailing", append(append([]byte{}, data...), '!'), errdef.ErrSizeMismatch},
		{"changed", []byte("weighTs"), errdef.ErrDigestMismatch},
	} {
		vr := errdef.NewVerifyReader(bytes.NewReader(tc.body), desc)
		_, err := io.Copy(io.Discard, vr)
		if err == nil {
			err = vr.Verify()
		}
		if tc.want == nil && err != nil || tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, errdef.ErrVerification)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
