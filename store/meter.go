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

// A Meter counts the bytes that arrive for every fetch sharing it (one
// pull's), so the splitting rule can tell a link that holds one stream
// back from a machine that is busy. The zero value is ready; its clock
// starts with the first byte. It is safe for concurrent use (one lock per
// buffer of a few hundred KiB: nothing next to the copy it counts).
type Meter struct {
	mu    sync.Mutex
	start time.Time
	n     int64
}

func (m *Meter) add(n int64) {
	m.mu.Lock()
	if m.n == 0 {
		m.start = time.Now()
	}
	m.n += n
	m.mu.Unlock()
}

// busy reports whether the fetches have received more than above bytes
// per second since the first byte.
func (m *Meter) busy(above int64) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	n, start := m.n, m.start
	m.mu.Unlock()
	elapsed := time.Since(start).Seconds()
	return n > 0 && elapsed > 0 && float64(n)/elapsed > float64(above)
}
