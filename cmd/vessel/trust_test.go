package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Not parallel: these set environment variables for the process.

func TestKeygenPasswordRules(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "k")
	t.Setenv("VESSEL_PASSWORD", "")
	os.Unsetenv("VESSEL_PASSWORD")
	t.Setenv("COSIGN_PASSWORD", "")
	os.Unsetenv("COSIGN_PASSWORD")
	// No password source and no terminal: a clear error, no files.
	if _, stderr, code := run(t, "keygen", "--output-key-prefix", prefix); code == 0 || !strings.Contains(stderr, "VESSEL_PASSWORD") {
		t.Fatalf("keygen without a password: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(prefix + ".key"); !os.IsNotExist(err) {
		t.Fatal("key written without a password")
	}
	// COSIGN_PASSWORD is honoured when VESSEL_PASSWORD is unset.
	t.Setenv("COSIGN_PASSWORD", "cosign-pw")
	if _, stderr, code := run(t, "keygen", "--output-key-prefix", prefix); code != 0 {
		t.Fatalf("keygen: %s", stderr)
	}
	if _, _, code := run(t, "keygen", "--output-key-prefix", prefix); code == 0 {
		t.Fatal("keygen overwrote existing keys without --force")
	}
	layout := "oci:" + filepath.Join(t.TempDir(), "store") + ":v1"
	// VESSEL_PASSWORD wins over COSIGN_PASSWORD: a wrong one fails.
	t.Setenv("VESSEL_PASSWORD", "wrong")
	if _, _, code := run(t, "push", model(t), layout, "--key", prefix+".key", "-q"); code == 0 {
		t.Fatal("push signed with a wrong VESSEL_PASSWORD")
	}
	t.Setenv("VESSEL_PASSWORD", "cosign-pw")
	if _, stderr, code := run(t, "push", model(t), layout, "--key", prefix+".key", "-q"); code != 0 {
		t.Fatalf("push --key: %s", stderr)
	}
}

func TestDefaultPolicyFile(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	layout, keys := signedLayout(t)
	dest := filepath.Join(t.TempDir(), "m")
	if _, _, code := run(t, "pull", layout, dest, "-q"); code != exitUsage {
		t.Fatalf("pull without a policy: exit %d, want %d", code, exitUsage)
	}
	policy := "version: 1\nscopes:\n  - scope: \"oci:**\"\n    signers:\n      - {name: release, key: " + filepath.Join(keys, "release.pub") + "}\n"
	if err := os.MkdirAll(filepath.Join(cfg, "vessel"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "vessel", "policy.yaml"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "pull", layout, dest, "-q"); code != 0 {
		t.Fatalf("pull with the default policy: %s", stderr)
	}
	// A malformed default policy is an error, not "no policy".
	if err := os.WriteFile(filepath.Join(cfg, "vessel", "policy.yaml"), []byte("version: 1\nsurprise: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "verify", layout); code == 0 || !strings.Contains(stderr, "policy.yaml") {
		t.Fatalf("malformed default policy: exit %d: %s", code, stderr)
	}
}

// The policy in the environment (VESSEL_POLICY_DATA, for a KServe storage
// container), with its key inline: used when no other trust is given,
// refused beside --policy, and parsed strictly.
func TestPolicyData(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	layout, keys := signedLayout(t)
	pub, err := os.ReadFile(filepath.Join(keys, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	policy := "version: 1\nscopes:\n  - scope: \"**\"\n    signers:\n      - name: release\n        keyData: |\n          " +
		strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", "\n          ") + "\n"
	t.Setenv("VESSEL_POLICY_DATA", policy)
	if out, stderr, code := run(t, "verify", layout); code != 0 || !strings.Contains(out, "signed by release") {
		t.Fatalf("verify with VESSEL_POLICY_DATA: exit %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := run(t, "verify", layout, "--policy", filepath.Join(keys, "none.yaml")); code != exitUsage || !strings.Contains(stderr, "VESSEL_POLICY_DATA") {
		t.Fatalf("--policy beside VESSEL_POLICY_DATA: exit %d: %s", code, stderr)
	}
	t.Setenv("VESSEL_POLICY_DATA", "version: 1\nsurprise: true\n")
	if _, stderr, code := run(t, "verify", layout); code == 0 || !strings.Contains(stderr, "--policy-data") {
		t.Fatalf("malformed VESSEL_POLICY_DATA: exit %d: %s", code, stderr)
	}
}

// signedLayout pushes a model signed by a new key "release" (in keys) to
// an OCI layout and returns its reference.
func signedLayout(t *testing.T) (layout, keys string) {
	t.Helper()
	t.Setenv("VESSEL_PASSWORD", "pw")
	keys = t.TempDir()
	if _, stderr, code := run(t, "keygen", "--output-key-prefix", filepath.Join(keys, "release")); code != 0 {
		t.Fatal(stderr)
	}
	layout = "oci:" + filepath.Join(t.TempDir(), "store") + ":v1"
	if _, stderr, code := run(t, "push", model(t), layout, "--key", filepath.Join(keys, "release.key"), "-q"); code != 0 {
		t.Fatal(stderr)
	}
	return layout, keys
}
