package workflow_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vessel-oci/vessel/errdef"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/workflow"
)

// A model whose file names differ only in case or Unicode normalisation
// pulls whole onto a filesystem that tells them apart; with PortableNames
// (and on a filesystem that folds them, which the pull asks) it is refused
// as an unsafe path before any file's blob is fetched, and leaves nothing.
func TestPortableNames(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tree map[string]string
		// clash are the two names the refusal must quote.
		clash [2]string
	}{
		{"case", map[string]string{"README.md": "upper", "readme.md": "lower"}, [2]string{"README.md", "readme.md"}},
		{"normalisation", map[string]string{"caf\u00e9.txt": "composed", "cafe\u0301.txt": "decomposed"}, [2]string{"caf\u00e9.txt", "cafe\u0301.txt"}},
		{"directory", map[string]string{"Tokenizer/a.txt": "a", "tokenizer/b.txt": "b"}, [2]string{`"Tokenizer"`, `"tokenizer"`}},
	} {
		tree := tc.tree
		t.Run(tc.name, func(t *testing.T) {
			host, counter := countingRegistry(t)
			src := t.TempDir()
			testutil.WriteTree(t, src, tree)
			if _, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), src, workflow.PushOptions{}); err != nil {
				t.Fatal(err)
			}
			counter.reset()
			parent := t.TempDir()
			dest := filepath.Join(parent, "m")
			_, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true, PortableNames: true})
			if !errors.Is(err, errdef.ErrUnsafePath) || !strings.Contains(err.Error(), "one name on a filesystem that ignores case and Unicode normalisation") {
				t.Fatalf("pull with PortableNames: %v, want ErrUnsafePath saying why", err)
			}
			if !strings.Contains(err.Error(), tc.clash[0]) || !strings.Contains(err.Error(), tc.clash[1]) {
				t.Errorf("the error does not name both %q: %v", tc.clash, err)
			}
			counter.mu.Lock()
			fetched := len(counter.gets)
			counter.mu.Unlock()
			if fetched != 1 { // the config, to check the manifest
				t.Errorf("%d blobs fetched before the refusal, want only the config", fetched)
			}
			if got := testutil.Entries(t, parent); len(got) != 0 {
				t.Errorf("the refused pull left %v", got)
			}

			res, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true})
			if err != nil {
				t.Fatalf("pull onto a byte-for-byte filesystem: %v", err)
			}
			for p, content := range tree {
				if got, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(p))); err != nil || string(got) != content {
					t.Errorf("%s: %q, %v; want %q", p, got, err, content)
				}
			}
			if len(res.Files) != len(tree) {
				t.Errorf("pulled %d files, want the %d pushed", len(res.Files), len(tree))
			}
			if got := testutil.Entries(t, parent); !slices.Equal(got, []string{"m"}) {
				t.Errorf("beside the destination: %v", got)
			}
		})
	}
}
