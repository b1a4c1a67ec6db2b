//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vessel-oci/vessel/internal/testutil"
)

// interrupt sends SIGINT (Ctrl-C) to a running vessel and returns its exit
// code, failing the test if it has not exited within 10 s.
func interrupt(t *testing.T, p *process) int {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10 s after SIGINT\n%s", p.name, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// Ctrl-C halfway through a pull: exit 130, the destination as it was and
// nothing beside it (the shared store keeps what was fetched); the rerun
// fetches only the rest.
func TestPullInterrupted(t *testing.T) {
	t.Parallel()
	dist := startDistribution(t)
	const shard = 6 << 20
	model := writeShards(t, 2, shard)
	if _, stderr, code := vessel(t, "push", model, dist.Ref("m:v1"), "-q"); code != 0 {
		t.Fatal(stderr)
	}
	cache, parent := t.TempDir(), t.TempDir()
	writeFiles(t, parent, map[string]string{"out/old.txt": "the previous model\n"})
	before := snapshotTree(t, parent)
	dest := filepath.Join(parent, "out")
	link := startRelay(t, dist.Host)
	link.stallDown.Store(shard + shard/2)
	p, err := startProcess(t, "vessel pull", vesselBin, []string{"pull", link.host() + "/m:v1", dest, "--force", "--cache-dir", cache, "--insecure-skip-verify", "--concurrency", "1", "-q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pull to store 1.25 shards", func() bool { return stored(t, cache) >= shard+shard/4 })
	if code := interrupt(t, p); code != 130 || !strings.Contains(p.output(), "vessel: interrupted") {
		t.Fatalf("interrupted pull: exit %d, want 130 saying so\n%s", code, p.output())
	}
	link.closeAll()
	assertTreeUnchanged(t, parent, before)

	count := startRelay(t, dist.Host)
	if _, stderr, code := vessel(t, "pull", count.host()+"/m:v1", dest, "--force", "--cache-dir", cache, "--insecure-skip-verify", "-q"); code != 0 {
		t.Fatalf("rerun: %s", stderr)
	}
	ppAssertSameTree(t, dest, model)
	if left := testutil.Entries(t, parent); len(left) != 1 || left[0] != "out" {
		t.Fatalf("after the rerun, beside the destination: %v", left)
	}
	if got := count.down.Load(); got > shard*3/4 {
		t.Fatalf("rerun received %d bytes: more than the missing part of the second %d-byte shard", got, shard)
	}
}

// Ctrl-C halfway through a push: exit 130 and no tag; the rerun sends
// only the blobs the registry does not have, and the model pulls verified.
func TestPushInterrupted(t *testing.T) {
	t.Parallel()
	dist := startDistribution(t)
	const shard = 6 << 20
	model := writeShards(t, 2, shard)
	link := startRelay(t, dist.Host)
	link.stallUp.Store(shard + shard/2)
	ref := link.host() + "/m:v1"
	p, err := startProcess(t, "vessel push", vesselBin, []string{"push", model, ref, "--concurrency", "1", "-q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the push to send 1.25 shards", func() bool { return link.up.Load() > shard+shard/4 })
	if code := interrupt(t, p); code != 130 {
		t.Fatalf("interrupted push: exit %d, want 130\n%s", code, p.output())
	}
	link.closeAll()
	if _, _, code := vessel(t, "inspect", dist.Ref("m:v1")); code == 0 {
		t.Fatal("the interrupted push left a tag")
	}
	sent := link.up.Load()
	link.stallUp.Store(0)
	if _, stderr, code := vessel(t, "push", model, ref, "-q"); code != 0 {
		t.Fatalf("rerun: %s", stderr)
	}
	if rerun := link.up.Load() - sent; rerun > shard+shard/4 {
		t.Fatalf("rerun sent %d bytes; the registry had the first %d-byte shard", rerun, shard)
	}
	dest := filepath.Join(t.TempDir(), "out")
	if _, stderr, code := vessel(t, "pull", dist.Ref("m:v1"), dest, "--insecure-skip-verify", "-q"); code != 0 {
		t.Fatalf("pull after the rerun: %s", stderr)
	}
	ppAssertSameTree(t, dest, model)
}

// The registry crashes in the middle of a push and comes back: the push
// fails clearly without a tag, and the rerun completes, sending only the
// blobs the registry does not have; the model pulls verified.
func TestPushRegistryCrashesAndComesBack(t *testing.T) {
	t.Parallel()
	dist := startDistribution(t)
	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	const shard = 6 << 20
	model := writeShards(t, 2, shard)
	link := startRelay(t, dist.Host)
	link.stallUp.Store(shard + shard/2)
	ref := link.host() + "/m:v1"
	p, err := startProcess(t, "vessel push", vesselBin, []string{"push", model, ref, "--key", releaseKey, "--concurrency", "1", "-q"}, keyEnv)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the push to send 1.25 shards", func() bool { return link.up.Load() > shard+shard/4 })
	dist.crash(t)
	link.closeAll()
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		t.Fatalf("push still running a minute after the registry died\n%s", p.output())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(p.output(), "vessel: push") {
		t.Fatalf("push to a dead registry: exit %d, want 1 with a message\n%s", code, p.output())
	}
	dist.restart(t)
	if _, _, code := vessel(t, "inspect", dist.Ref("m:v1")); code == 0 {
		t.Fatal("the failed push left a tag")
	}
	sent := link.up.Load()
	link.stallUp.Store(0)
	if _, stderr, code := vessel(t, "push", model, ref, "--key", releaseKey, "-q"); code != 0 {
		t.Fatalf("rerun: %s", stderr)
	}
	if rerun := link.up.Load() - sent; rerun > shard+shard/4 {
		t.Fatalf("rerun sent %d bytes; the registry had the first %d-byte shard", rerun, shard)
	}
	dest := filepath.Join(t.TempDir(), "out")
	if _, stderr, code := vessel(t, "pull", dist.Ref("m:v1"), dest, "--key", releasePub, "-q"); code != 0 {
		t.Fatalf("pull after the rerun: %s", stderr)
	}
	ppAssertSameTree(t, dest, model)
}
