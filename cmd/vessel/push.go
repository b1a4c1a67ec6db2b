package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

func packFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "model name for the ModelPack config", Category: "Packing"},
		&cli.StringFlag{Name: "version", Usage: "model version for the ModelPack config", Category: "Packing"},
		&cli.StringSliceFlag{Name: "annotation", Aliases: []string{"a"}, Usage: "manifest annotation `KEY=VALUE` (repeatable)", Category: "Packing"},
		&cli.BoolFlag{Name: "dataset", Usage: "pack a dataset: files get the dataset layer type (docs stay docs)", Category: "Packing"},
		&cli.StringSliceFlag{Name: "media-type", Usage: "`GLOB=TYPE` layer type for matching files; TYPE is weight, weight.config, doc, code, dataset or a media type (repeatable, last match wins)", Category: "Packing"},
		&cli.BoolFlag{Name: "allow-symlinks", Usage: "pack symlinks that point to files inside the directory (their content)", Category: "Packing"},
		&cli.Int64Flag{Name: "group-under", Value: 1 << 20, Usage: "files smaller than `BYTES` travel in tar layers, one directory per group, when there are --group-min-files of them", Category: "Packing"},
		&cli.Int64Flag{Name: "group-size", Value: 64 << 20, Usage: "a tar group holds up to `BYTES` of files", Category: "Packing"},
		&cli.IntFlag{Name: "group-min-files", Value: 256, Usage: "group small files only when there are at least `N` of them (-1: never group)", Category: "Packing"},
		&cli.IntFlag{Name: "concurrency", Value: workflow.DefaultConcurrency, Usage: "files moved at once", Category: "Transfer"},
		&cli.BoolFlag{Name: "no-digest-cache", Usage: "hash every file, even if unchanged since the last push (the cache is $XDG_CACHE_HOME/vessel/digests)", Category: "Transfer"},
	}
}

func (e *env) pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "pack a model directory as a ModelPack artifact and push it",
		ArgsUsage: "DIR REFERENCE",
		Description: `Every regular file becomes one uncompressed layer, so every file has its
own digest in the manifest; where a directory tree has many small files (a
dataset), they travel in deterministic tar layers, one or more per
directory, and the OpenSSF model signature lists each file's digest. The
same directory always packs to the same manifest digest. Blobs the registry already has are not sent again.
REFERENCE is host[:port]/repo[:tag|@digest] or oci:PATH[:TAG].
Prints the manifest digest.`,
		Flags: flagsOf(packFlags(), signFlags(), registryFlags(), outputFlags()),
		Action: func(c *cli.Context) error {
			a, err := args(c, "DIR", "REFERENCE")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			opts, err := pushOptions(c)
			if err != nil {
				return err
			}
			ref, err := parseRef(a[1])
			if err != nil {
				return err
			}
			// Before any upload, so a wrong password costs nothing.
			signer, err := e.signer(c)
			if err != nil {
				return err
			}
			opts.Signed = signer != nil
			ropts := registryOptions(c)
			ropts.CreateLayout = true
			repo, err := registry.Open(c.Context, ref, ropts)
			if err != nil {
				return err
			}
			prog := newProgress(c, e.stderr, "pushed")
			opts.Progress = prog.handle
			res, err := workflow.Push(c.Context, repo, a[0], opts)
			prog.finish(err == nil)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(c.App.ErrWriter, "vessel: warning:", w)
			}
			out := struct {
				*workflow.PushResult
				Signature *workflow.SignResult `json:"signature,omitempty"`
			}{PushResult: res}
			if signer != nil {
				if out.Signature, err = workflow.SignPushed(c.Context, repo.Pinned(res.Digest), signer, res); err != nil {
					return err
				}
			}
			if format == "json" {
				return writeJSON(e.stdout, out)
			}
			fmt.Fprintln(e.stdout, res.Digest)
			return nil
		},
	}
}

func pushOptions(c *cli.Context) (workflow.PushOptions, error) {
	annotations, err := keyValues("annotation", c.StringSlice("annotation"))
	if err != nil {
		return workflow.PushOptions{}, err
	}
	var rules []artifact.MediaTypeRule
	for _, s := range c.StringSlice("media-type") {
		r, err := artifact.ParseMediaTypeRule(s)
		if err != nil {
			return workflow.PushOptions{}, usageError{err}
		}
		rules = append(rules, r)
	}
	return workflow.PushOptions{
		Scan: artifact.ScanOptions{
			Dataset:       c.Bool("dataset"),
			MediaTypes:    rules,
			AllowSymlinks: c.Bool("allow-symlinks"),
		},
		Group:       artifact.GroupOptions{Under: c.Int64("group-under"), Target: c.Int64("group-size"), MinFiles: c.Int("group-min-files")},
		Info:        artifact.Info{Name: c.String("name"), Version: c.String("version")},
		Annotations: annotations,
		Concurrency: c.Int("concurrency"),
		DigestCache: digestCacheDir(c),
	}, nil
}

// digestCacheDir is where push remembers file digests: the user cache
// directory (os.UserCacheDir: $XDG_CACHE_HOME, else ~/.cache) plus
// "vessel", or nothing with --no-digest-cache or without a home.
func digestCacheDir(c *cli.Context) string {
	if c.Bool("no-digest-cache") {
		return ""
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "vessel")
}

func flagsOf(groups ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}
