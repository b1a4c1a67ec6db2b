// Command vessel ships machine-learning models through OCI registries,
// signed and verified. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	limitMemory()
	finish := startProfiles()
	code := Run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	finish()
	stop()
	os.Exit(code)
}
