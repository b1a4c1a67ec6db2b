//go:build e2e && unix

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the user an init container runs as when the test runs as
// root (runAsNonRoot: 65534 in deploy/).
const nobody = 65534

// runAsInitContainer runs vessel as a Kubernetes init container would:
// not as root, with a read-only root filesystem (no HOME, no cache, no
// temporary directory it may write to), and KServe's two arguments.
func runAsInitContainer(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"HOME=/nonexistent", "TMPDIR=/nonexistent", "PATH=/nonexistent", "NO_COLOR=1"}, env...)
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("$ vessel %s (not as root)\n[exit %d]\n%s", strings.Join(args, " "), cmd.ProcessState.ExitCode(), out.String())
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// entries lists a directory's names, hidden ones too.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// The storage-initializer mode: `vessel pull oci://REF /mnt/models` into
// an empty directory whose parent cannot be written (the container's
// read-only root), as a non-root user: a verified model lands there with
// nothing else; a refused or tampered one leaves it empty.
func TestInitContainerPull(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} { // t.TempDir's are 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The image's binary, where the user can run it.
	bin := filepath.Join(root, "vessel")
	data, err := os.ReadFile(vesselBin)
	if err != nil {
		t.Fatal(err)
	}
	ppWriteFile(t, bin, data)
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	releaseKey, releasePub := keygen(t, root, "release")
	if err := os.Chmod(releasePub, 0o644); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(root, "policy.yaml")
	ppWriteFile(t, policy, []byte("version: 1\nscopes:\n  - scope: \"**\"\n    signers: [{name: release, key: "+releasePub+"}]\n"))
	if err := os.Chmod(policy, 0o644); err != nil {
		t.Fatal(err)
	}
	r := startVesselRegistry(t)
	pushSample(t, r.Ref("ml/llama:v1"), "--key", releaseKey)
	pushSample(t, r.Ref("ml/unsigned:v1"))
	pushSample(t, r.Ref("ml/tampered:v1"), "--key", releaseKey)
	tamperSampleWeights(t, r, "ml/tampered")

	// /mnt is read-only to the container; /mnt/<name> is its emptyDir.
	mnt := filepath.Join(root, "mnt")
	volume := func(name string) string {
		dir := filepath.Join(mnt, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if os.Getuid() == 0 {
			if err := os.Chown(dir, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	models, refused, tampered, kserve := volume("models"), volume("refused"), volume("tampered"), volume("kserve")
	if err := os.Chmod(mnt, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(mnt, 0o755) })

	if out, code := runAsInitContainer(t, bin, nil, "pull", "oci://"+r.Ref("ml/llama:v1"), models, "--policy", policy); code != 0 {
		t.Fatalf("init-container pull: exit %d\n%s", code, out)
	}
	want := entries(t, ppSampleModel())
	if got := entries(t, models); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("the volume holds %v, want the model's files %v and nothing else", got, want)
	}
	ppAssertSameTree(t, models, ppSampleModel())
	// KServe's ClusterStorageContainer: `vessel pull` and its two
	// arguments, the policy in the environment (no volume to mount it).
	pub, err := os.ReadFile(releasePub)
	if err != nil {
		t.Fatal(err)
	}
	inline := "version: 1\nscopes:\n  - scope: \"**\"\n    signers:\n      - name: release\n        keyData: |\n          " + strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", "\n          ") + "\n"
	if out, code := runAsInitContainer(t, bin, []string{"VESSEL_POLICY_DATA=" + inline}, "pull", "oci://"+r.Ref("ml/llama:v1"), kserve); code != 0 {
		t.Fatalf("storage-container pull with VESSEL_POLICY_DATA: exit %d\n%s", code, out)
	}
	ppAssertSameTree(t, kserve, ppSampleModel())
	if out, code := runAsInitContainer(t, bin, []string{"VESSEL_POLICY_DATA=" + inline}, "pull", "oci://"+r.Ref("ml/unsigned:v1"), refused); code != 3 {
		t.Fatalf("storage-container pull of an unsigned model: exit %d, want 3\n%s", code, out)
	}
	if got := entries(t, mnt); len(got) != 4 {
		t.Fatalf("the read-only parent changed: %v", got)
	}

	for _, tc := range []struct{ dir, ref, why string }{
		{refused, "ml/unsigned:v1", "not trusted"},
		{tampered, "ml/tampered:v1", "digest mismatch"},
	} {
		out, code := runAsInitContainer(t, bin, nil, "pull", "oci://"+r.Ref(tc.ref), tc.dir, "--policy", policy)
		if code != 3 || !strings.Contains(out, tc.why) {
			t.Errorf("%s: exit %d, want 3 (%s)\n%s", tc.ref, code, tc.why, out)
		}
		if got := entries(t, tc.dir); len(got) != 0 {
			t.Errorf("%s: the volume holds %v after a refused pull, want nothing", tc.ref, got)
		}
	}
}
