//go:build e2e

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var kmsVessel struct {
	once sync.Once
	bin  string
	err  error
}

// kmsVesselBin is vessel built with the kms tag (the default binary has no
// KMS providers), built once per test run.
func kmsVesselBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(kmsVesselEnv); bin != "" {
		return bin // the test re-run in its own network namespace
	}
	kmsVessel.once.Do(func() {
		// Beside vessel-registry, in the directory TestMain removes.
		kmsVessel.bin = filepath.Join(filepath.Dir(vesselRegistryBin), "vessel-kms"+exeSuffix())
		kmsVessel.err = goBuild("./cmd/vessel", kmsVessel.bin, "-tags", "kms")
	})
	if kmsVessel.err != nil {
		t.Fatal(kmsVessel.err)
	}
	t.Setenv(kmsVesselEnv, kmsVessel.bin)
	return kmsVessel.bin
}

const kmsVesselEnv = "VESSEL_E2E_KMS_BIN"

// A model signed with a key that stays in an AWS KMS-compatible service
// (local-kms, pinned in hack/tools/localkms) verifies in vessel, by the
// key's URI and by its exported public key, and in both cosign releases;
// the service is reached the way the AWS SDK is pointed at any endpoint
// (AWS_ENDPOINT_URL_KMS), with the usual AWS_* credentials.
func TestKMSSigningRoundTrip(t *testing.T) {
	requireCosign(t)
	bin, err := toolPath("localkms")
	if err != nil {
		t.Fatalf("this test needs local-kms: %v", err)
	}
	vesselKMS := kmsVesselBin(t)
	// local-kms listens on every interface.
	if !inPrivateNetwork(t) {
		return
	}
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := x509.MarshalECPrivateKey(k)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pub := filepath.Join(dir, "release.pub")
	ppWriteFile(t, pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	var seed strings.Builder
	seed.WriteString("Keys:\n  Asymmetric:\n    Ecc:\n      - Metadata:\n          KeyId: 5f0c6f3e-8d2b-4f6a-9c1e-7a3b2d4e6f80\n          KeyUsage: SIGN_VERIFY\n        PrivateKeyPem: |\n")
	for _, line := range strings.Split(strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: priv}))), "\n") {
		seed.WriteString("          " + line + "\n")
	}
	seed.WriteString("Aliases:\n  - AliasName: alias/vessel-release\n    TargetKeyId: 5f0c6f3e-8d2b-4f6a-9c1e-7a3b2d4e6f80\n")
	ppWriteFile(t, filepath.Join(dir, "seed.yaml"), []byte(seed.String()))

	port := freePort(t)
	if _, err := startProcess(t, "local-kms", bin, nil, []string{
		fmt.Sprintf("PORT=%d", port), "KMS_DATA_PATH=" + filepath.Join(dir, "data"), "KMS_SEED_PATH=" + filepath.Join(dir, "seed.yaml"),
		"KMS_REGION=eu-west-2", "KMS_ACCOUNT_ID=111122223333",
	}); err != nil {
		t.Fatal(err)
	}
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port))
	env := []string{
		fmt.Sprintf("AWS_ENDPOINT_URL_KMS=http://127.0.0.1:%d", port),
		"AWS_ACCESS_KEY_ID=vessel-test", "AWS_SECRET_ACCESS_KEY=vessel-test", "AWS_REGION=eu-west-2",
	}
	withKMS := func(args ...string) (string, string, int) {
		return runCmd(t, cmdOpts{Env: env}, vesselKMS, args...)
	}
	const uri = "awskms:///alias/vessel-release"

	r := startVesselRegistry(t)
	ref := r.Ref("kms/m:v1")
	out, stderr, code := withKMS("push", ppSampleModel(), ref, "-q", "--key", uri)
	if code != 0 {
		t.Fatalf("push signed in KMS: %s", stderr)
	}
	digest := strings.TrimSpace(out)
	if out, stderr, code := vessel(t, "verify", ref, "--key", pub); code != 0 {
		t.Fatalf("vessel verify with the exported public key: exit %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code := withKMS("verify", ref, "--key", uri); code != 0 {
		t.Fatalf("vessel verify with the key's URI: exit %d\n%s%s", code, out, stderr)
	}
	policy := filepath.Join(dir, "policy.yaml")
	ppWriteFile(t, policy, []byte("version: 1\nscopes:\n  - scope: \"**\"\n    signers: [{name: release, key: \""+uri+"\"}]\n"))
	if out, stderr, code := withKMS("verify", ref, "--policy", policy); code != 0 || !strings.Contains(out, "signed by release") {
		t.Fatalf("vessel verify with a policy naming the key's URI: exit %d\n%s%s", code, out, stderr)
	}
	for _, c := range cosignReleases {
		if _, stderr, code := c.run(t, "verify", "--key", pub, "--insecure-ignore-tlog", "--trusted-root", offlineTrustedRoot(t), "--allow-http-registry", r.Ref("kms/m@"+digest)); code != 0 {
			t.Errorf("%s verify of the KMS signature: %s", c.name, stderr)
		}
	}
	// The default binary says what it lacks.
	if _, stderr, code := runCmd(t, cmdOpts{Env: env}, vesselBin, "sign", ref, "--key", uri); code == 0 || !strings.Contains(stderr, "built without KMS providers") {
		t.Errorf("the default binary given a KMS key: exit %d: %s", code, stderr)
	}
	// The OpenSSF model signature of a directory, signed in KMS.
	sig := filepath.Join(dir, "model.sig")
	if _, stderr, code := withKMS("sign-dir", ppSampleModel(), "--key", uri, "--signature", sig); code != 0 {
		t.Fatalf("sign-dir with the KMS key: %s", stderr)
	}
	if _, stderr, code := vessel(t, "verify-dir", ppSampleModel(), "--signature", sig, "--key", pub); code != 0 {
		t.Fatalf("verify-dir of the KMS-signed model signature: %s", stderr)
	}
	_, otherPub := keygen(t, dir, "other")
	if _, stderr, code := vessel(t, "verify", ref, "--key", otherPub); code != 3 {
		t.Fatalf("verify against another key: exit %d, want 3: %s", code, stderr)
	}
	if _, stderr, code := withKMS("sign", ref, "--key", "awskms:///alias/no-such-key"); code == 0 || !strings.Contains(stderr, "alias/no-such-key") {
		t.Fatalf("a key the service does not have: exit %d: %s", code, stderr)
	}
}

// waitTCP waits until addr accepts connections.
func waitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections within %v: %v", addr, readyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
