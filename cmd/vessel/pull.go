package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/artifact"
	"github.com/vessel-oci/vessel/store"
	"github.com/vessel-oci/vessel/workflow"
)

func (e *env) pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "download a model, verified, into a directory, atomically",
		ArgsUsage: "REFERENCE DIR",
		Description: `The reference is resolved to a digest once. The manifest is checked (size,
digest, every path and size) before any file is fetched; every layer is
checked against its digest as it arrives, files are written into a staging
directory beside DIR, and only when all are complete is the staging
directory renamed to DIR. On any failure DIR is left exactly as it was.
Layers are fetched into a content store (--cache-dir) and files hard-linked
from it: an interrupted pull resumes where it stopped (the bytes it kept
are hashed again), and a later pull reuses files it already has, after
hashing them again. With --no-cache, or when the store is on another
filesystem, a private store beside DIR is used and removed on success.
With --include only matching files are written (a partial pull): a GLOB
without "/" matches the base name, with "/" the whole path. Files stored
one per layer are fetched only if they match; a layer that is a tar of
several files is fetched whole and only its matching files written. The
signature still covers the whole manifest and every file written is
checked against it. Matching nothing is an error and writes nothing.
Two files whose names differ only in case or Unicode normalisation are
refused where DIR's filesystem takes them for one (macOS, Windows): one
signed file would replace the other. --portable-names refuses them on
every filesystem.
Exit code 3 means verification failed (digest, size or path).`,
		Flags: flagsOf([]cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "replace DIR if it is not empty (atomically)"},
			&cli.BoolFlag{Name: "portable-names", Usage: "refuse files whose names differ only in case or Unicode normalisation even if DIR's filesystem keeps them apart (for a directory that will be copied to macOS or Windows)"},
			&cli.StringSliceFlag{Name: "include", Usage: "write only files matching `GLOB` (repeatable; without \"/\" it matches the base name, with \"/\" the whole path)"},
			&cli.IntFlag{Name: "concurrency", Value: workflow.DefaultConcurrency, Usage: "layers downloaded at once", Category: "Transfer"},
			&cli.IntFlag{Name: "ranges", Value: 4, Usage: fmt.Sprintf("a layer starts as one stream; if it is slow (under %d MiB/s after %v, while the whole pull moves under %d MiB/s), the rest is fetched in up to N parallel range requests of 8-%d MiB (1: never)", store.DefaultSplitBelow>>20, store.DefaultSplitAfter, store.DefaultBusyAbove>>20, store.DefaultSegmentSize>>20), Category: "Transfer"},
			&cli.BoolFlag{Name: "insecure-skip-verify", Usage: "pull without checking signatures (file digests are still checked)", Category: "Trust"},
			&cli.StringFlag{Name: "signature", Usage: "write the model's OpenSSF model signature (OMS bundle) to `PATH`, e.g. DIR/model.sig, for `vessel verify-dir` and `model_signing verify`; not with --include, since it signs the whole model and a partial DIR would not verify against it", Category: "Trust"},
		}, cacheFlags(), trustFlags(), registryFlags(), outputFlags()),
		Action: func(c *cli.Context) error {
			a, err := args(c, "REFERENCE", "DIR")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			include := c.StringSlice("include")
			if len(include) > 0 && c.String("signature") != "" {
				return usagef("--signature cannot be combined with --include: the signature covers the whole model, and a partial directory would not verify against it")
			}
			if err := artifact.CheckPatterns(include); err != nil {
				return usagef("--include: %v", err)
			}
			policy, insecure, err := e.needTrust(c, "WARNING: --insecure-skip-verify: signatures are NOT checked; this model may come from anyone. (File digests are still checked against the manifest.)")
			if err != nil {
				return err
			}
			repo, err := openRepo(c, a[0])
			if err != nil {
				return err
			}
			blobs, err := pullStore(c, a[1])
			if err != nil {
				return err
			}
			prog := newProgress(c, e.stderr, "fetched")
			res, err := workflow.Pull(c.Context, repo, a[1], workflow.PullOptions{
				Concurrency:        c.Int("concurrency"),
				Force:              c.Bool("force"),
				Policy:             policy,
				InsecureSkipVerify: insecure,
				SignaturePath:      c.String("signature"),
				Include:            include,
				Store:              blobs,
				Ranges:             c.Int("ranges"),
				PortableNames:      c.Bool("portable-names"),
				Progress:           prog.handle,
			})
			prog.finish(err == nil)
			if errors.Is(err, artifact.ErrNoMatch) {
				return fmt.Errorf("--include %w of %s", artifact.ErrNoMatch, a[0])
			}
			if err != nil {
				return err
			}
			if v := res.Verification; v != nil && !c.Bool("quiet") {
				fmt.Fprintf(e.stderr, "verified %s: signed by %s\n", v.Digest, strings.Join(v.Signers, ", "))
			}
			if format == "json" {
				return writeJSON(e.stdout, res)
			}
			fmt.Fprintf(e.stdout, "%s -> %s (%d files)\n", res.Reference, res.Destination, len(res.Files))
			return nil
		},
	}
}
