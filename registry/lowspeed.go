package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the low-speed limit (Options.MinRate, MinRateWindow): far
// below any real link, so only a registry that drips is given up on.
const (
	DefaultMinRate       = 1 << 10
	DefaultMinRateWindow = 30 * time.Second
)

// ErrTooSlow: a response arrived slower than the low-speed limit. A
// download that fails with it is resumed by a range request on a new
// connection; it is the error once those fail too.
var ErrTooSlow = errors.New("registry sends too slowly")

// minRate returns the limit in bytes per second and its window; a rate of
// 0 means none.
func (o Options) minRate() (int64, time.Duration) {
	rate, window := o.MinRate, o.MinRateWindow
	if rate == 0 {
		rate = DefaultMinRate
	}
	if window <= 0 {
		window = DefaultMinRateWindow
	}
	return max(rate, 0), window
}

// lowSpeed gives up on a response body that brings fewer than rate bytes
// per second over a window: without it a registry that sends one byte
// every few seconds (never idle long enough for an idle timeout) holds a
// pull forever. Written here because net/http has deadlines for a whole
// request but no low-speed limit (curl's --speed-limit).
type lowSpeed struct {
	base   http.RoundTripper
	rate   int64
	window time.Duration
}

func (t lowSpeed) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil || t.rate <= 0 {
		return resp, err
	}
	resp.Body = &meteredBody{rc: resp.Body, what: req.Method + " " + req.URL.Redacted(), rate: t.rate, window: t.window}
	return resp, nil
}

// meteredBody checks its rate once per window, from its first Read (a
// caller busy before it reads, hashing what an earlier fetch kept, say,
// is not the registry's slowness).
type meteredBody struct {
	rc           io.ReadCloser
	what         string
	rate         int64
	window       time.Duration
	n            atomic.Int64 // bytes read so far
	start        sync.Once
	mu           sync.Mutex
	timer        *time.Timer
	closed, slow bool
	got          int64 // bytes in the window that was too slow
}

func (b *meteredBody) Read(p []byte) (int, error) {
	b.start.Do(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.closed {
			b.timer = time.AfterFunc(b.window, func() { b.check(0) })
		}
	})
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	if err != nil && err != io.EOF {
		b.mu.Lock()
		slow, got := b.slow, b.got
		b.mu.Unlock()
		if slow {
			err = fmt.Errorf("%s: %w: %d bytes in %s, below the minimum of %d bytes/s (--min-rate, --min-rate-window)", b.what, ErrTooSlow, got, b.window, b.rate)
		}
	}
	return n, err
}

// check runs at the end of each window; from is the byte count at its start.
func (b *meteredBody) check(from int64) {
	now := b.n.Load()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if float64(now-from) < float64(b.rate)*b.window.Seconds() {
		b.slow, b.got = true, now-from
		b.closed = true
		b.rc.Close() // fails the Read in progress
		return
	}
	b.timer = time.AfterFunc(b.window, func() { b.check(now) })
}

func (b *meteredBody) Close() error {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
	return b.rc.Close()
}
