package main

import (
	"fmt"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/server"
)

func (e *env) serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run an embedded OCI registry (OCI 1.1, referrers API) for local use and tests",
		Description: `Prints "listening on HOST:PORT" when ready (useful with port 0) and runs
until interrupted. Storage is one OCI layout per repository under --root.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:5000", Usage: "`HOST:PORT` to listen on"},
			&cli.StringFlag{Name: "root", Usage: "storage `DIR` (default: memory, lost on exit)"},
			&cli.BoolFlag{Name: "disable-referrers", Usage: "turn the referrers API off (to test the tag-schema fallback)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("serve takes no arguments")
			}
			return server.Serve(c.Context, c.String("addr"), server.Options{
				Root:             c.String("root"),
				DisableReferrers: c.Bool("disable-referrers"),
			}, func(a net.Addr) { fmt.Fprintf(e.stdout, "listening on %s\n", a) })
		},
	}
}
