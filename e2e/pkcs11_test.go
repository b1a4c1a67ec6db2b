//go:build e2e && pkcs11key

package e2e

// Run by `make test-full` (not `make test`: it needs cgo, SoftHSM2 and
// OpenSC's pkcs11-tool, Debian's softhsm2 and opensc packages, which a
// fresh machine with only Go does not have).

import (
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// softHSMModule is where Debian's softhsm2 puts the PKCS#11 module.
const softHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// A model signed with a key that never leaves a (software) HSM verifies in
// vessel and in cosign v3 with the public key read from the token.
func TestPKCS11SigningRoundTrip(t *testing.T) {
	requireCosign(t)
	for _, tool := range []string{"softhsm2-util", "pkcs11-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("make test-full needs %s (Debian: apt-get install softhsm2 opensc)", tool)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	ppWriteFile(t, conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"))
	if err := os.Mkdir(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"SOFTHSM2_CONF=" + conf}
	run := func(name string, args ...string) string {
		t.Helper()
		out, stderr, code := runCmd(t, cmdOpts{Env: env}, name, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		return out
	}
	run("softhsm2-util", "--init-token", "--free", "--label", "vessel", "--pin", "1234", "--so-pin", "5678")
	run("pkcs11-tool", "--module", softHSMModule, "--login", "--pin", "1234", "--token-label", "vessel",
		"--keypairgen", "--key-type", "EC:prime256v1", "--label", "release", "--id", "01")
	der := filepath.Join(dir, "release.der")
	run("pkcs11-tool", "--module", softHSMModule, "--token-label", "vessel", "--read-object", "--type", "pubkey", "--label", "release", "-o", der)
	raw, err := os.ReadFile(der)
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "release.pub")
	ppWriteFile(t, pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: raw}))
	uri := "pkcs11:token=vessel;object=release?module-path=" + softHSMModule + "&pin-value=1234"

	r := startVesselRegistry(t)
	ref := r.Ref("hsm/m:v1")
	out, stderr, code := runCmd(t, cmdOpts{Env: env}, vesselBin, "push", ppSampleModel(), ref, "-q", "--key", uri)
	if code != 0 {
		t.Fatalf("push signed in the HSM: %s", stderr)
	}
	digest := strings.TrimSpace(out)
	if out, stderr, code := vessel(t, "verify", ref, "--key", pub); code != 0 {
		t.Fatalf("vessel verify with the token's public key: exit %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := cosignReleases[0].run(t, "verify", "--key", pub, "--insecure-ignore-tlog", "--trusted-root", offlineTrustedRoot(t), "--allow-http-registry", r.Ref("hsm/m@"+digest)); code != 0 {
		t.Fatalf("cosign v3 verify of the HSM signature: %s", stderr)
	}
	dest := filepath.Join(t.TempDir(), "m")
	if _, stderr, code := vessel(t, "pull", ref, dest, "--key", pub, "-q", "--signature", filepath.Join(dest, "model.sig")); code != 0 {
		t.Fatalf("pull: %s", stderr)
	}
	if _, stderr, code := vessel(t, "verify-dir", dest, "--signature", filepath.Join(dest, "model.sig"), "--key", pub); code != 0 {
		t.Fatalf("verify-dir of the HSM's OpenSSF model signature: %s", stderr)
	}
	if _, stderr, code := runCmd(t, cmdOpts{Env: env}, vesselBin, "sign", ref, "--key", strings.Replace(uri, "pin-value=1234", "pin-value=0000", 1)); code == 0 || !strings.Contains(stderr, "PKCS#11") {
		t.Fatalf("a wrong PIN: exit %d: %s", code, stderr)
	}
}
