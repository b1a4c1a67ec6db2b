package workflow_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/server"
	"github.com/vessel-oci/vessel/workflow"
)

// The examples run offline: vessel's embedded registry serves them
// in-process on loopback, and keys are made on the spot.

// startRegistry serves an in-memory registry and returns its host:port.
func startRegistry() (host string, stop func()) {
	h, closeStorage := server.Handler(server.Options{})
	srv := httptest.NewServer(h)
	return strings.TrimPrefix(srv.URL, "http://"), func() { srv.Close(); closeStorage() }
}

// exampleModel writes a two-file model directory.
func exampleModel() string {
	dir, err := os.MkdirTemp("", "vessel-example-")
	if err != nil {
		log.Fatal(err)
	}
	for name, content := range map[string]string{
		"config.json":       `{"architectures":["LlamaForCausalLM"],"torch_dtype":"bfloat16"}`,
		"model.safetensors": "weights",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	return dir
}

// releaseKey makes a signing key and the policy that trusts it.
func releaseKey() (attest.Signer, *attest.Policy) {
	priv, pub, err := attest.GenerateKeyPair(nil)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := attest.LoadPrivateKey(priv, nil)
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := attest.LoadPublicKey(pub)
	if err != nil {
		log.Fatal(err)
	}
	return signer, attest.KeyPolicy([]attest.TrustedSigner{{Name: "release", Key: verifier}})
}

func openRef(ref string) *registry.Repository {
	r, err := registry.ParseReference(ref)
	if err != nil {
		log.Fatal(err)
	}
	repo, err := registry.Open(context.Background(), r, registry.Options{})
	if err != nil {
		log.Fatal(err)
	}
	return repo
}

// pushSigned pushes the sample model to ref and signs it.
func pushSigned(ref string, signer attest.Signer) {
	ctx := context.Background()
	dir := exampleModel()
	defer os.RemoveAll(dir)
	if _, err := workflow.Push(ctx, openRef(ref), dir, workflow.PushOptions{}); err != nil {
		log.Fatal(err)
	}
	if _, err := workflow.Sign(ctx, openRef(ref), signer); err != nil {
		log.Fatal(err)
	}
}

func ExamplePush() {
	host, stop := startRegistry()
	defer stop()
	dir := exampleModel()
	defer os.RemoveAll(dir)
	res, err := workflow.Push(context.Background(), openRef(host+"/team/llama:v1"), dir, workflow.PushOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range res.Files {
		fmt.Println(f.Path, f.MediaType)
	}
	fmt.Println("tag", res.Tag)
	// Output:
	// config.json application/vnd.cncf.model.weight.config.v1.raw
	// model.safetensors application/vnd.cncf.model.weight.v1.raw
	// tag v1
}

func ExampleSign() {
	host, stop := startRegistry()
	defer stop()
	signer, _ := releaseKey()
	ctx := context.Background()
	dir := exampleModel()
	defer os.RemoveAll(dir)
	if _, err := workflow.Push(ctx, openRef(host+"/team/llama:v1"), dir, workflow.PushOptions{}); err != nil {
		log.Fatal(err)
	}
	// A cosign-format signature of the manifest, and an OpenSSF Model
	// Signing signature of its files, both stored as referrers.
	res, err := workflow.Sign(ctx, openRef(host+"/team/llama:v1"), signer)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.PredicateType)
	fmt.Println("OMS signature stored:", res.OMS != "")
	// Output:
	// https://sigstore.dev/cosign/sign/v1
	// OMS signature stored: true
}

func ExampleVerify() {
	host, stop := startRegistry()
	defer stop()
	signer, policy := releaseKey()
	pushSigned(host+"/team/llama:v1", signer)
	v, err := workflow.Verify(context.Background(), openRef(host+"/team/llama:v1"), policy)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", v.Verified, "signed by", v.Signers)
	// A key the policy does not trust fails with errdef.ErrVerification
	// (errdef.ErrUntrusted), and the Verification says what was found.
	_, other := releaseKey()
	v, err = workflow.Verify(context.Background(), openRef(host+"/team/llama:v1"), other)
	fmt.Println("verified:", v.Verified, "error:", err != nil)
	// Output:
	// verified: true signed by [release]
	// verified: false error: true
}

func ExamplePull() {
	host, stop := startRegistry()
	defer stop()
	signer, policy := releaseKey()
	pushSigned(host+"/team/llama:v1", signer)
	parent, err := os.MkdirTemp("", "vessel-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(parent)
	// Trusted signer -> manifest -> every layer -> every file, before the
	// directory appears (atomically). The OMS signature is written next to
	// the files, so they verify later with no registry.
	dest := filepath.Join(parent, "llama")
	res, err := workflow.Pull(context.Background(), openRef(host+"/team/llama:v1"), dest, workflow.PullOptions{
		Policy:        policy,
		SignaturePath: filepath.Join(dest, "model.sig"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Files), "files, verified:", res.Verification.Verified)
	entries, _ := os.ReadDir(dest)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// 2 files, verified: true
	// config.json
	// model.safetensors
	// model.sig
}

func ExampleCopy() {
	staging, stopStaging := startRegistry()
	defer stopStaging()
	prod, stopProd := startRegistry()
	defer stopProd()
	signer, policy := releaseKey()
	pushSigned(staging+"/team/llama:v1", signer)
	// Verified at the source, copied with its signatures, verified again
	// at the destination.
	res, err := workflow.Copy(context.Background(), openRef(staging+"/team/llama:v1"), openRef(prod+"/team/llama:v1"), workflow.CopyOptions{Policy: policy})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("referrers copied:", res.Referrers, "verified at the destination:", res.Verification.Verified)
	// Output:
	// referrers copied: 2 verified at the destination: true
}
