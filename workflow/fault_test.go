package workflow_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

// Pushes and pulls through a registry that fails in the ways real ones do
// (a connection cut mid-blob, a stream that stalls, 500/502/503, 429 with
// Retry-After) complete through retries and range resumes, with the
// model intact and nothing left beside the destination. Each case checks
// its fault was injected and that the request after it came.
func TestTransfersThroughFaults(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("0123456789abcdef", 256<<10) // 4 MiB: a blob long enough to cut
	src := filepath.Join(t.TempDir(), "model")
	testutil.WriteTree(t, src, map[string]string{"model.safetensors": big, "config.json": `{"a":1}`})
	blob := "/blobs/" + digest.FromString(big).String()
	get, post := http.MethodGet, http.MethodPost
	cases := []struct {
		name   string
		rule   testutil.FaultRule
		onPush bool
		wait   time.Duration // the least the client must wait before asking again
	}{
		{name: "connection reset mid-blob", rule: testutil.FaultRule{Method: get, PathContains: blob, Times: 2, Fault: testutil.Fault{ResetAfter: 1 << 20}}},
		{name: "stall mid-blob", rule: testutil.FaultRule{Method: get, PathContains: blob, Times: 1, Fault: testutil.Fault{StallAfter: 1 << 20}}},
		{name: "500 on the blob", rule: testutil.FaultRule{Method: get, PathContains: blob, Times: 2, Fault: testutil.Fault{Status: 500}}},
		{name: "502 on the manifest", rule: testutil.FaultRule{Method: get, PathContains: "/manifests/", Times: 2, Fault: testutil.Fault{Status: 502}}},
		{name: "503 on the blob", rule: testutil.FaultRule{Method: get, PathContains: blob, Times: 3, Fault: testutil.Fault{Status: 503}}},
		{name: "429 with Retry-After", wait: time.Second, rule: testutil.FaultRule{Method: get, PathContains: blob, Times: 1,
			Fault: testutil.Fault{Status: 429, Header: http.Header{"Retry-After": {"1"}}}}},
		{name: "503 on starting an upload", onPush: true, rule: testutil.FaultRule{Method: post, PathContains: "/blobs/uploads/", Times: 2, Fault: testutil.Fault{Status: 503}}},
	}
	opts := registry.Options{MinRate: 64 << 10, MinRateWindow: 300 * time.Millisecond}
	for _, b := range testutil.Backends {
		for _, tc := range cases {
			t.Run(string(b)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				faults := &testutil.Faults{}
				host := testutil.Registry(t, b, faults.Wrap)
				var rule *testutil.FaultRule
				if tc.onPush {
					rule = faults.Add(tc.rule)
				}
				if _, err := workflow.Push(ctx, openWith(t, host+"/x/m:v1", opts), src, workflow.PushOptions{}); err != nil {
					t.Fatalf("push: %v", err)
				}
				if !tc.onPush {
					rule = faults.Add(tc.rule)
				}
				parent := t.TempDir()
				dest := filepath.Join(parent, "model")
				if _, err := workflow.Pull(ctx, openWith(t, host+"/x/m:v1", opts), dest, workflow.PullOptions{InsecureSkipVerify: true}); err != nil {
					t.Fatalf("pull: %v", err)
				}
				assertSameTree(t, src, dest)
				if n := faults.Injected(rule); n != tc.rule.Times {
					t.Errorf("fault injected %d times, want %d", n, tc.rule.Times)
				}
				after, ok := faults.After(rule)
				if !ok {
					t.Fatal("no request came after the faulted ones")
				}
				if tc.wait > 0 && after.Sub(rule.Hits[tc.rule.Times-1]) < tc.wait-50*time.Millisecond {
					t.Errorf("asked again after %s, before Retry-After's %s", after.Sub(rule.Hits[tc.rule.Times-1]), tc.wait)
				}
				if entries, _ := os.ReadDir(parent); len(entries) != 1 {
					t.Errorf("beside the destination: %v", entries)
				}
			})
		}
	}
}

// A registry that keeps cutting a blob fails the pull cleanly (the
// destination absent, only the private store kept beside it for the
// resume), and the rerun, once the registry is healthy, resumes what the
// first fetched and leaves nothing stray.
func TestPullFailsCleanlyAndRerunResumes(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("fedcba9876543210", 256<<10)
	src := filepath.Join(t.TempDir(), "model")
	testutil.WriteTree(t, src, map[string]string{"model.safetensors": big})
	blob := "/blobs/" + digest.FromString(big).String()
	faults := &testutil.Faults{}
	host := testutil.Registry(t, testutil.Backends[0], faults.Wrap)
	if _, err := workflow.Push(ctx, open(t, host+"/x/m:v1"), src, workflow.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	faults.Add(testutil.FaultRule{Method: http.MethodGet, PathContains: blob, Times: 1000, Fault: testutil.Fault{ResetAfter: 256 << 10}})
	parent := t.TempDir()
	dest := filepath.Join(parent, "model")
	if _, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true}); err == nil {
		t.Fatal("pull through a registry that always cuts the blob succeeded")
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 || entries[0].Name() != filepath.Base(workflow.PrivateStore(dest)) {
		t.Fatalf("after the failed pull, beside the destination: %v (want only the private store)", entries)
	}
	faults.Clear()
	if _, err := workflow.Pull(ctx, open(t, host+"/x/m:v1"), dest, workflow.PullOptions{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, src, dest)
	for _, r := range faults.Requests() {
		if strings.HasPrefix(r, "GET "+"/v2/x/m"+blob) && !strings.Contains(r, "bytes=") {
			t.Errorf("the rerun fetched the blob again from nothing: %s", r)
		}
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("after the rerun, beside the destination: %v", entries)
	}
}
