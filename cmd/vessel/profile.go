package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

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
