package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points the user cache (digest cache, content store, upload
// sessions) at a scratch directory, so tests neither read nor fill the
// real one. Tests that need a cache of their own set XDG_CACHE_HOME too.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vessel-cmd-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
