package store

import (
	"testing"
	"time"
)

// A pull is judged by what its link does lately: a fast start (a burst
// far above the mark) stops counting once a window has passed without it.
func TestMeterLooksAtTheLastWindow(t *testing.T) {
	var nilMeter *Meter
	if nilMeter.busy(1) {
		t.Fatal("a nil meter is busy")
	}
	m := &Meter{}
	if m.busy(1) {
		t.Fatal("busy before the first byte")
	}
	m.add(8 << 30)
	if !m.busy(512 << 20) {
		t.Fatal("8 GiB at once is not busy")
	}
	time.Sleep(meterWindow + 100*time.Millisecond)
	m.add(1) // closes a window that holds the burst
	if !m.busy(512 << 20) {
		t.Fatal("the window holding the burst is not busy")
	}
	time.Sleep(meterWindow + 100*time.Millisecond)
	m.add(1) // closes a window of one byte
	if m.busy(512 << 20) {
		t.Fatal("still busy a window after the burst")
	}
}
