package store

import (
	"sync"
	"time"
)

// DefaultBusyAbove is the rate of a whole pull above which a slow stream
// is not split: the machine is the bottleneck (on 2 cores, four streams
// from a loopback registry share the CPU with it and one can fall under
// DefaultSplitBelow for a moment), and more connections would only add
// work. A thin link never gets near it: four streams of 64 MiB/s are 256.
const DefaultBusyAbove = 512 << 20

// meterWindow is how far back a Meter's rate looks: a pull's later layers
// are judged by what the link does now, not by how fast the earlier,
// already split ones went.
const meterWindow = 500 * time.Millisecond

// A Meter counts the bytes that arrive for every fetch sharing it (one
// pull's), so the splitting rule can tell a link that holds one stream
// back from a machine that is busy. The zero value is ready. It is safe
// for concurrent use (one lock per buffer of a few hundred KiB: nothing
// next to the copy it counts).
type Meter struct {
	mu     sync.Mutex
	n      int64     // bytes so far
	mark   time.Time // start of the current window; zero before the first byte
	markN  int64     // n at mark
	recent float64   // bytes per second over the last full window
	full   bool      // a window has completed, so recent holds a rate
}

// add counts n bytes; a nil Meter counts nothing.
func (m *Meter) add(n int64) {
	if m == nil {
		return
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mark.IsZero() {
		m.mark = now
	}
	m.n += n
	if d := now.Sub(m.mark); d >= meterWindow {
		m.recent, m.full = float64(m.n-m.markN)/d.Seconds(), true
		m.mark, m.markN = now, m.n
	}
}

// busy reports whether the fetches received more than above bytes per
// second over the last window (before a full one, since the first byte).
func (m *Meter) busy(above int64) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rate := m.recent
	if !m.full {
		d := time.Since(m.mark).Seconds()
		if m.mark.IsZero() || d <= 0 {
			return false
		}
		rate = float64(m.n-m.markN) / d
	}
	return rate > float64(above)
}
