//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// netnsEnv marks a test binary re-run inside its own network namespace.
const netnsEnv = "VESSEL_E2E_IN_NETNS"

// inPrivateNetwork runs the calling test again in a child test binary of
// its own network namespace (a user namespace too, so no root is needed),
// where only loopback exists, and reports whether the caller is that
// child: the parent waits for it and passes or fails with it. Services that
// bind every interface (Fulcio's and the TSA's metrics listeners) are then
// reachable from nowhere but the test.
func inPrivateNetwork(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		if err := loopbackUp(); err != nil {
			t.Fatalf("bring loopback up in the private network namespace: %v", err)
		}
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=15m")
	cmd.Env = append(os.Environ(), netnsEnv+"=1", vesselBinEnv+"="+vesselBin)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWNET | syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		// No user namespaces here (a hardened CI runner): run on the
		// host's loopback instead, as on macOS; the services' metrics
		// listeners then bind every interface for the test's length.
		t.Logf("no private network namespace (%v): running on the host's loopback", err)
		return true
	}
	err := cmd.Wait()
	t.Logf("in a private network namespace:\n%s", out.String())
	if err != nil {
		t.Fatalf("the test in its private network namespace failed: %v", err)
	}
	return false
}

// loopbackUp sets "lo" up: a new network namespace starts with it down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
