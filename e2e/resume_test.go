//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vessel-oci/vessel/internal/testutil"
)

// relay forwards TCP to target, counting the bytes each way. Once more
// than stallDown bytes have come back (or stallUp gone out; 0: never), it
// stops forwarding that way, and the connection hangs, as on a link that
// died without a reset; once more than cutUp have gone out, it closes
// every connection that sends more. The limits can be lifted meanwhile.
type relay struct {
	ln                 net.Listener
	target             string
	stallDown, stallUp atomic.Int64
	cutUp              atomic.Int64
	down, up           atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
}

// closeAll drops every connection, both sides, so a request held by a
// stall ends at the registry too (its client was killed).
func (r *relay) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *relay) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer up.Close()
	r.mu.Lock()
	r.conns = append(r.conns, c, up)
	r.mu.Unlock()
	go func() { r.pipe(up, c, &r.up, &r.stallUp, &r.cutUp); up.Close(); c.Close() }()
	r.pipe(c, up, &r.down, &r.stallDown, nil)
}

func (r *relay) pipe(dst, src net.Conn, count, stall, cut *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			total := count.Add(int64(n))
			if cut != nil {
				if lim := cut.Load(); lim > 0 && total > lim {
					return // cut mid-request
				}
			}
			for lim := stall.Load(); lim > 0 && total > lim; lim = stall.Load() {
				time.Sleep(10 * time.Millisecond) // hang until lifted or closed
				if r.closed(dst) {
					return
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// closed reports whether closeAll dropped c.
func (r *relay) closed(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.conns {
		if k == c {
			return false
		}
	}
	return true
}

func (r *relay) host() string { return r.ln.Addr().String() }

// waitFor polls cond every 20 ms for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeShards writes n shards of size bytes (distinct, incompressible
// enough) into a new model directory.
func writeShards(t *testing.T, n, size int) string {
	t.Helper()
	model := filepath.Join(t.TempDir(), "big")
	for i := range n {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(j*13 + i + j>>12)
		}
		ppWriteFile(t, filepath.Join(model, fmt.Sprintf("shard-%d.bin", i)), data)
	}
	return model
}

// A pull killed outright (SIGKILL) halfway through leaves the destination
// untouched; the rerun fetches only the rest, by range, from Distribution,
// re-hashing what it kept, and writes the model.
func TestPullResumesAfterKill(t *testing.T) {
	t.Parallel()
	dist := startDistribution(t)
	const shard = 6 << 20
	model := writeShards(t, 2, shard)
	if _, stderr, code := vessel(t, "push", model, dist.Ref("m:v1"), "-q"); code != 0 {
		t.Fatal(stderr)
	}
	cache, dest := t.TempDir(), filepath.Join(t.TempDir(), "out")
	link := startRelay(t, dist.Host)
	link.stallDown.Store(shard + shard/2) // inside the second shard
	p, err := startProcess(t, "vessel pull", vesselBin, []string{"pull", link.host() + "/m:v1", dest, "--cache-dir", cache, "--insecure-skip-verify", "--concurrency", "1", "-q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pull to store 1.25 shards", func() bool { return stored(t, cache) >= shard+shard/4 })
	time.Sleep(400 * time.Millisecond) // let it record its progress
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	link.closeAll()
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("killed pull left %s: %v", dest, err)
	}
	if left := testutil.Entries(t, filepath.Dir(dest)); len(left) != 1 || !strings.HasPrefix(left[0], ".vessel-pull-out-") {
		t.Fatalf("a pull killed mid-download leaves its staging directory, and only that: %v", left)
	}
	// The rerun goes through a relay that only counts.
	count := startRelay(t, dist.Host)
	if _, stderr, code := vessel(t, "pull", count.host()+"/m:v1", dest, "--cache-dir", cache, "--insecure-skip-verify", "-q"); code != 0 {
		t.Fatalf("rerun: %s", stderr)
	}
	ppAssertSameTree(t, dest, model)
	// The rerun cleared the killed pull's staging directory (whose hard
	// links would pin store blobs).
	if left := testutil.Entries(t, filepath.Dir(dest)); len(left) != 1 || left[0] != "out" {
		t.Fatalf("after the rerun, beside the destination: %v", left)
	}
	// Kept: the first shard and about half the second.
	if got := count.down.Load(); got > shard*3/4 {
		t.Fatalf("rerun received %d bytes: more than the missing part of the second %d-byte shard", got, shard)
	}
}

// A chunked push killed outright (SIGKILL) halfway through a blob leaves no
// tag; the rerun resumes the registry's upload session where Distribution
// says it stands, and sends only the rest.
func TestPushResumesUploadSessionAfterKill(t *testing.T) {
	t.Parallel()
	dist := startDistribution(t)
	const size = 8 << 20
	model := writeShards(t, 1, size)
	link := startRelay(t, dist.Host)
	link.stallUp.Store(size / 2)
	ref := link.host() + "/m:v1"
	p, err := startProcess(t, "vessel push", vesselBin, []string{"push", model, ref, "--chunk-size", "1048576", "-q"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sessions := filepath.Join(testHome(t), ".cache", "vessel", "uploads")
	waitFor(t, "a recorded upload session", func() bool {
		ents, _ := os.ReadDir(sessions)
		return len(ents) > 0 && link.up.Load() > size/2
	})
	time.Sleep(200 * time.Millisecond)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	// The held PATCH ends at the registry as a cut one, as when a client dies.
	link.closeAll()
	time.Sleep(200 * time.Millisecond)
	if _, _, code := vessel(t, "inspect", dist.Ref("m:v1")); code == 0 {
		t.Fatal("killed push left a tag")
	}
	sentBefore := link.up.Load()
	link.stallUp.Store(0)
	if _, stderr, code := vessel(t, "push", model, ref, "--chunk-size", "1048576", "-q", "--verbose"); code != 0 {
		t.Fatalf("rerun: %s", stderr)
	} else if !strings.Contains(stderr, "resumed upload") {
		t.Errorf("rerun did not say it resumed:\n%s", stderr)
	}
	if rerun := link.up.Load() - sentBefore; rerun > size*3/4 {
		t.Fatalf("rerun sent %d bytes of a %d-byte blob, about half of which the registry had", rerun, size)
	}
	dest := filepath.Join(t.TempDir(), "out")
	if _, stderr, code := vessel(t, "pull", dist.Ref("m:v1"), dest, "--insecure-skip-verify", "-q"); code != 0 {
		t.Fatalf("pull after resumed push: %s", stderr)
	}
	ppAssertSameTree(t, dest, model)
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
