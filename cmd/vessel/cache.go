package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/internal/fsx"
	"github.com/vessel-oci/vessel/store"
)

func cacheFlags() []cli.Flag {
	return []cli.Flag{
		cacheDirFlag(),
		&cli.BoolFlag{Name: "no-cache", Usage: "keep no shared store: layers go to a private one beside DIR, kept only while it holds an interrupted pull", Category: "Transfer"},
	}
}

func cacheDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "cache-dir", Usage: "content store shared by pulls: layers are fetched into it, resumed from it after an interruption, and reused by digest (verified) by later pulls (default: $XDG_CACHE_HOME/vessel/store, when on DIR's filesystem)", Category: "Transfer"}
}

// pullStore picks the content store for a pull into dest. The default
// store is used only on dest's filesystem, where files are hard-linked
// from it and cost no extra space or copy; elsewhere the pull uses a
// private store beside dest (nil). An explicit --cache-dir is always used.
func pullStore(c *cli.Context, dest string) (*store.Store, error) {
	if c.Bool("no-cache") {
		if c.IsSet("cache-dir") {
			return nil, usagef("--no-cache contradicts --cache-dir")
		}
		return nil, nil
	}
	if dir := c.String("cache-dir"); dir != "" {
		return store.Open(dir)
	}
	dir, err := store.DefaultDir()
	if err != nil {
		return nil, nil // no home: nothing to share
	}
	s, err := store.Open(dir)
	if err != nil { // an unwritable cache must not stop a pull
		verbosef(c, "content store %s: %v; using a private one beside %s", dir, err, dest)
		return nil, nil
	}
	if !fsx.SameFilesystem(s.Dir(), dest) {
		verbosef(c, "content store %s is on another filesystem than %s; using a private one beside it", s.Dir(), dest)
		return nil, nil
	}
	return s, nil
}

func verbosef(c *cli.Context, format string, a ...any) {
	if c.Bool("verbose") {
		fmt.Fprintf(c.App.ErrWriter, format+"\n", a...)
	}
}

func (e *env) cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "manage the local content store that pulls share",
		Subcommands: []*cli.Command{{
			Name:  "prune",
			Usage: "remove stored blobs that no pulled directory uses, and abandoned partial downloads",
			Description: `Pulled files are hard links to the store's blobs, so a blob still in a
pulled directory costs no space and is kept; prune removes the rest.`,
			Flags: []cli.Flag{cacheDirFlag()},
			Action: func(c *cli.Context) error {
				dir := c.String("cache-dir")
				if dir == "" {
					var err error
					if dir, err = store.DefaultDir(); err != nil {
						return err
					}
				}
				if _, err := os.Stat(dir); os.IsNotExist(err) {
					fmt.Fprintf(e.stdout, "%s: no content store\n", dir)
					return nil
				}
				s, err := store.Open(dir)
				if err != nil {
					return err
				}
				freed, err := s.Prune()
				fmt.Fprintf(e.stdout, "%s: freed %d bytes\n", s.Dir(), freed)
				return err
			},
		}},
	}
}
