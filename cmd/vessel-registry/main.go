// Command vessel-registry is vessel's embedded OCI registry (package
// server: olareg, OCI 1.1 with the referrers API) for local use, demos and
// tests. It is its own binary, not a vessel subcommand, because olareg
// v0.2.2 hashes a bcrypt password at package init (config.passHashEmpty):
// linked into vessel, every push, pull and sign would pay for it.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run serves until ctx is done and returns the process exit code: 0 after
// an interrupt, 1 when the registry cannot start, 2 for a bad command line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := false
	app := &cli.App{
		Name:      "vessel-registry",
		Usage:     "run vessel's embedded OCI registry (OCI 1.1, referrers API) for local use and tests",
		UsageText: "vessel-registry [--addr HOST:PORT] [--root DIR] [--disable-referrers]",
		Description: `Prints "listening on HOST:PORT" when ready (useful with port 0) and runs
until interrupted. Storage is one OCI layout per repository under --root.
Production belongs on a real registry.`,
		Version:        version,
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   func(_ *cli.Context, err error, _ bool) error { usage = true; return err },
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:5000", Usage: "`HOST:PORT` to listen on"},
			&cli.StringFlag{Name: "root", Usage: "storage `DIR` (default: memory, lost on exit)"},
			&cli.BoolFlag{Name: "disable-referrers", Usage: "turn the referrers API off (to test the tag-schema fallback)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				usage = true
				return fmt.Errorf("takes no arguments, got %q", c.Args().Slice())
			}
			return server.Serve(c.Context, c.String("addr"), server.Options{
				Root:             c.String("root"),
				DisableReferrers: c.Bool("disable-referrers"),
			}, func(a net.Addr) { fmt.Fprintf(stdout, "listening on %s\n", a) })
		},
	}
	err := app.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "vessel-registry: %v\n", err)
	if usage {
		return 2
	}
	return 1
}
