package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
)

// defaultMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT says
// otherwise. vessel streams, so what it holds at once is small (a
// dataset's file list and signature at most), but the collector lets
// garbage grow to twice that before it runs: the limit keeps a push or
// pull of 100,000 files (at most 65 MB live) well under 128 MiB of RSS
// (an init container's limit), where it reached 168 MiB. A model needing
// more still runs; the collector then works harder (at most half the CPU).
const defaultMemoryLimit = 80 << 20

// limitMemory applies defaultMemoryLimit where GOMEMLIMIT is unset.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// startProfiles writes a CPU profile to $VESSEL_CPUPROFILE and a heap
// profile to $VESSEL_MEMPROFILE, when set, for whoever measures vessel
// (go tool pprof); the returned func finishes them.
func startProfiles() func() {
	cpu, mem := os.Getenv("VESSEL_CPUPROFILE"), os.Getenv("VESSEL_MEMPROFILE")
	var f *os.File
	if cpu != "" {
		var err error
		if f, err = os.Create(cpu); err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "vessel: VESSEL_CPUPROFILE:", err)
		}
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if mem != "" {
			runtime.GC()
			if m, err := os.Create(mem); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(m, 0)
				m.Close()
			}
		}
	}
}
