package workflow_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

func TestExportVerifyImport(t *testing.T) {
	ctx := context.Background()
	release := newKey(t, "release")
	var requests atomic.Int32
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			next.ServeHTTP(w, r)
		})
	})
	src := open(t, host+"/staging/m:v1")
	if _, err := workflow.Push(ctx, src, writeModel(t), workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Sign(ctx, open(t, host+"/staging/m:v1"), release.signer); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "m-v1.tar")
	res, err := workflow.Export(ctx, open(t, host+"/staging/m:v1"), file, workflow.ExportOptions{
		Copy: workflow.CopyOptions{Policy: keyPolicy(release)}, Trust: map[string][]byte{"release.pub": []byte("pem")},
	})
	if err != nil || res.Referrers < 2 {
		t.Fatalf("export: %+v, %v", res, err)
	}
	// Verifying and pulling from the archive touches no registry.
	before := requests.Load()
	archive := open(t, "oci-archive:"+file+":v1")
	if v, err := workflow.Verify(ctx, archive, keyPolicy(release)); err != nil || !v.Verified {
		t.Fatalf("verify archive: %+v, %v", v, err)
	}
	dest := filepath.Join(t.TempDir(), "m")
	if _, err := workflow.Pull(ctx, open(t, "oci-archive:"+file+":v1"), dest, workflow.PullOptions{Policy: keyPolicy(release)}); err != nil {
		t.Fatal(err)
	}
	if n := requests.Load() - before; n != 0 {
		t.Fatalf("offline verification made %d registry requests", n)
	}
	// The archive is read-only.
	if _, err := workflow.Sign(ctx, open(t, "oci-archive:"+file+":v1"), release.signer); !errors.Is(err, registry.ErrReadOnly) {
		t.Fatalf("sign into an archive: %v", err)
	}
	// Import without naming the tag: the archive's only model tag is used.
	ref, _ := registry.ParseReference("oci-archive:" + file)
	dst := open(t, host+"/prod/m:v1")
	if _, err := workflow.Import(ctx, ref, dst, workflow.CopyOptions{Policy: keyPolicy(release)}); err != nil {
		t.Fatal(err)
	}
	if v, err := workflow.Verify(ctx, open(t, host+"/prod/m:v1"), keyPolicy(release)); err != nil || !v.Verified {
		t.Fatalf("verify after import: %+v, %v", v, err)
	}
}
