package oms_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/oms"
)

// Sign a model directory with a key, then verify it with the public key,
// as `vessel sign-dir` and `vessel verify-dir` do.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "my-model")
	_ = os.MkdirAll(model, 0o755)
	_ = os.WriteFile(filepath.Join(model, "config.json"), []byte(`{"model_type":"gpt2"}`), 0o644)
	_ = os.WriteFile(filepath.Join(model, "model.safetensors"), []byte("weights"), 0o644)

	priv, pub, err := attest.GenerateKeyPair([]byte("password"))
	if err != nil {
		log.Fatal(err)
	}
	signer, err := attest.LoadPrivateKey(priv, []byte("password"))
	if err != nil {
		log.Fatal(err)
	}
	sig := filepath.Join(model, "model.sig") // beside the files: left out
	bundle, err := oms.Sign(ctx, model, signer, oms.SignOptions{SignaturePath: sig})
	if err != nil {
		log.Fatal(err)
	}
	_ = os.WriteFile(sig, bundle, 0o644)

	key, err := attest.LoadPublicKey(pub)
	if err != nil {
		log.Fatal(err)
	}
	res, err := oms.Verify(ctx, model, bundle, oms.SignerVerifier(attest.TrustedSigner{Name: "release", Key: key}), oms.VerifyOptions{SignaturePath: sig})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Method, res.Signer, res.Files, res.Serialization.HashType, res.Model)
	// Output: key release 2 sha256 my-model
}

// Build the statement for files whose sha256 digests are already known,
// such as the raw layers of a pushed model, without reading them again.
// (These are the resources of the spec's Appendix A; its subject digest,
// 92745110.., is another model's: the root digest of these is b941667a..)
func ExampleStatement() {
	st, err := oms.Statement("llama", []oms.Resource{
		{Name: "model.safetensors", Digest: "4555555dc68d872c2270ba89ecc5f6f094812f65372b37e50071fe5168031c49"},
		{Name: "config.json", Digest: "5e472403951781d18d5f790aa5b3316a5f535fc37a1052f6659c9c6af82e3643"},
	}, oms.Serialization{Method: oms.MethodFiles, HashType: oms.HashSHA256, IgnorePaths: oms.DefaultIgnorePaths()})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(st))
	// Output: {"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"llama","digest":{"sha256":"b941667adf1337cbe83a15313561c531eb6b4d9f4dffd4bd073abd2b9893440b"}}],"predicateType":"https://model_signing/signature/v1.0","predicate":{"resources":[{"name":"config.json","digest":"5e472403951781d18d5f790aa5b3316a5f535fc37a1052f6659c9c6af82e3643","algorithm":"sha256"},{"name":"model.safetensors","digest":"4555555dc68d872c2270ba89ecc5f6f094812f65372b37e50071fe5168031c49","algorithm":"sha256"}],"serialization":{"method":"files","hash_type":"sha256","allow_symlinks":false,"ignore_paths":[".git",".gitattributes",".github",".gitignore"]}}}
}
