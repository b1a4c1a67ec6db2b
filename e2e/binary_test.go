//go:build e2e

package e2e

import (
	"debug/buildinfo"
	"testing"
)

// TestVesselDoesNotLinkTheRegistry guards vessel's start-up: olareg v0.2.2
// hashes a bcrypt password when its config package initialises (about
// 50 ms of CPU), and Go runs the init of every package linked in, so the
// embedded registry lives in vessel-registry, never in vessel.
func TestVesselDoesNotLinkTheRegistry(t *testing.T) {
	for _, bin := range []struct {
		path   string
		olareg bool
	}{{vesselBin, false}, {vesselRegistryBin, true}} {
		info, err := buildinfo.ReadFile(bin.path)
		if err != nil {
			t.Fatalf("read build info of %s: %v", bin.path, err)
		}
		linked := false
		for _, m := range info.Deps {
			linked = linked || m.Path == "github.com/olareg/olareg"
		}
		if linked != bin.olareg {
			t.Errorf("%s: links github.com/olareg/olareg: %v, want %v", bin.path, linked, bin.olareg)
		}
	}
}
