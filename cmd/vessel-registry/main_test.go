package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

func TestServesUntilInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int)
	root := t.TempDir()
	go func() {
		done <- Run(ctx, []string{"vessel-registry", "--addr", "127.0.0.1:0", "--root", root}, pw, io.Discard)
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line %q, want \"listening on HOST:PORT\"", line)
	}
	go io.Copy(io.Discard, pr)
	resp, err := http.Get("http://" + addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/v2/ answered %d", resp.StatusCode)
	}

	dir := filepath.Join(t.TempDir(), "m")
	testutil.WriteTree(t, dir, map[string]string{"model.safetensors": strings.Repeat("w", 4096)})
	ref, _ := registry.ParseReference(addr + "/m:v1")
	repo, err := registry.Open(ctx, ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := workflow.Push(ctx, repo, dir, workflow.PushOptions{})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	// The manifest is stored under --root, one OCI layout per repository.
	if _, err := os.Stat(filepath.Join(root, "m", "blobs", "sha256", res.Digest.Encoded())); err != nil {
		t.Fatalf("manifest %s not stored under --root: %v", res.Digest, err)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after interrupt, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop after interrupt")
	}
}

func TestBadCommandLine(t *testing.T) {
	for _, args := range [][]string{
		{"vessel-registry", "extra"},
		{"vessel-registry", "--no-such-flag"},
	} {
		var stderr bytes.Buffer
		if code := Run(context.Background(), args, io.Discard, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

func TestAddressInUse(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"vessel-registry", "--addr", "127.0.0.1:0"}, pw, io.Discard) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr := strings.TrimPrefix(strings.TrimSpace(line), "listening on ")
	var stderr bytes.Buffer
	if code := Run(context.Background(), []string{"vessel-registry", "--addr", addr}, io.Discard, &stderr); code != 1 {
		t.Fatalf("second registry on %s: exit %d, want 1 (stderr %q)", addr, code, stderr.String())
	}
	if !strings.Contains(stderr.String(), addr) {
		t.Errorf("error %q does not name the address", stderr.String())
	}
	cancel()
	<-done
}
