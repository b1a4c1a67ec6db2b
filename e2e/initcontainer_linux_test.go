//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The init container's volume is a filesystem of its own mounted on the
// destination (an emptyDir), under a parent that could be written: the
// pull stages inside the mount, and a refused pull leaves it empty. The
// mount is a tmpfs in a user and mount namespace of the test's own.
func TestInitContainerPullIntoMountPoint(t *testing.T) {
	t.Parallel()
	if err := exec.Command("unshare", "--user", "--map-root-user", "--mount", "true").Run(); err != nil {
		// As inPrivateNetwork: a hardened CI runner without user
		// namespaces cannot make the mount; the read-only-parent case
		// (TestInitContainerPull) covers the same code path there.
		t.Logf("no user and mount namespaces here (%v): the mount-point case is not run", err)
		return
	}
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	r := startVesselRegistry(t)
	pushSample(t, r.Ref("ml/llama:v1"), "--key", releaseKey)
	pushSample(t, r.Ref("ml/unsigned:v1"))
	// In the namespace: mount a tmpfs on $1, pull $3 into it, list it.
	const script = `mount -t tmpfs vessel-e2e "$1" && { "$2" pull "$3" "$1" --key "$4" -q; code=$?; echo "--- in the volume:"; ls -A "$1"; exit $code; }`
	run := func(ref string) (string, int) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "models")
		out, stderr, code := runCmd(t, cmdOpts{}, "unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", mkdir(t, dir), vesselBin, "oci://"+r.Ref(ref), releasePub)
		_, listing, ok := strings.Cut(out, "--- in the volume:\n")
		if !ok {
			t.Fatalf("no listing of the volume: exit %d\n%s%s", code, out, stderr)
		}
		return strings.TrimSpace(listing), code
	}
	out, code := run("ml/llama:v1")
	want := strings.Join(entries(t, ppSampleModel()), "\n")
	if code != 0 || out != want {
		t.Fatalf("pull into a mount point: exit %d, holding:\n%s\nwant:\n%s", code, out, want)
	}
	if out, code := run("ml/unsigned:v1"); code != 3 || out != "" {
		t.Fatalf("refused pull into a mount point: exit %d, want 3 and nothing in it:\n%s", code, out)
	}
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if out, err := exec.Command("mkdir", "-p", dir).CombinedOutput(); err != nil {
		t.Fatalf("mkdir %s: %v %s", dir, err, out)
	}
	return dir
}
