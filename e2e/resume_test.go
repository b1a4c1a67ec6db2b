//go:build e2e

package e2e

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// throttleProxy forwards TCP to target and counts the bytes coming back;
// once more than stallAfter have come back it stops forwarding them (the
// connection hangs, as on a link that died without a reset).
type throttleProxy struct {
	ln         net.Listener
	target     string
	stallAfter int64
	down       atomic.Int64
}

func startThrottleProxy(t *testing.T, target string, stallAfter int64) *throttleProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &throttleProxy{ln: ln, target: target, stallAfter: stallAfter}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *throttleProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if down := p.down.Add(int64(n)); p.stallAfter > 0 && down > p.stallAfter {
				<-make(chan struct{}) // hang until the test ends
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *throttleProxy) host() string { return p.ln.Addr().String() }

// A pull killed outright (SIGKILL) halfway through leaves the destination
// untouched; the rerun fetches only the rest, by range, from Distribution,
// re-hashing what it kept, and writes the model.
func TestPullResumesAfterKill(t *testing.T) {
	t.Parallel()
	dist := startDistribution(t)
	model := filepath.Join(t.TempDir(), "big")
	const shard = 6 << 20
	for i := range 2 {
		data := make([]byte, shard)
		for j := range data {
			data[j] = byte(j*13 + i)
		}
		ppWriteFile(t, filepath.Join(model, "shard-"+string(rune('a'+i))+".bin"), data)
	}
	if _, stderr, code := vessel(t, "push", model, dist.Ref("m:v1"), "-q"); code != 0 {
		t.Fatal(stderr)
	}
	cache, dest := t.TempDir(), filepath.Join(t.TempDir(), "out")
	stall := startThrottleProxy(t, dist.Host, shard+shard/2) // stalls inside the second shard
	p, err := startProcess(t, "vessel pull", vesselBin, []string{"pull", stall.host() + "/m:v1", dest, "--cache-dir", cache, "--insecure-skip-verify", "--concurrency", "1", "-q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the pull has written what it will get, then kill it.
	deadline := time.Now().Add(30 * time.Second)
	for stored(t, cache) < shard+shard/4 {
		if time.Now().After(deadline) {
			t.Fatalf("pull stored only %d bytes", stored(t, cache))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond) // let it record its progress
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("killed pull left %s: %v", dest, err)
	}
	// The rerun goes through a counting proxy that does not stall.
	count := startThrottleProxy(t, dist.Host, 0)
	if _, stderr, code := vessel(t, "pull", count.host()+"/m:v1", dest, "--cache-dir", cache, "--insecure-skip-verify", "-q"); code != 0 {
		t.Fatalf("rerun: %s", stderr)
	}
	ppAssertSameTree(t, dest, model)
	// Kept: the first shard and about half the second.
	if got := count.down.Load(); got > shard*3/4 {
		t.Fatalf("rerun received %d bytes: more than the missing part of the second %d-byte shard", got, shard)
	}
}

// stored is how many bytes the content store holds, complete or partial.
func stored(t *testing.T, dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.HasSuffix(p, ".json") {
			n += fi.Size()
		}
		return nil
	})
	return n
}
