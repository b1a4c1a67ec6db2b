//go:build !linux

// Command bench runs on Linux only: it drops the page cache, reads /proc
// and statfs, and times the Linux fast paths vessel takes. See main.go.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: runs on Linux only (it drops the page cache and reads /proc)")
	os.Exit(2)
}
