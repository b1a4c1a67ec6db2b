package main

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

func (e *env) copyCommand() *cli.Command {
	return &cli.Command{
		Name:      "copy",
		Usage:     "promote a model to another registry or layout with all its signatures and attestations",
		ArgsUsage: "SOURCE DESTINATION",
		Description: `Verifies the source against the trust policy, copies the manifest, its blobs
(streamed, digest-checked, skipped where present, mounted within one
registry), every referrer recursively and cosign's classic .sig/.att tags,
tags the destination last, then verifies again there.`,
		Flags: promotionFlags(),
		Action: func(c *cli.Context) error {
			a, format, copyOpts, err := e.promotion(c, "SOURCE", "DESTINATION")
			if err != nil {
				return err
			}
			src, err := openRepo(c, a[0])
			if err != nil {
				return err
			}
			dst, err := openDest(c, a[1])
			if err != nil {
				return err
			}
			res, err := workflow.Copy(c.Context, src, dst, copyOpts)
			if err != nil {
				return err
			}
			return e.printCopy(format, res)
		},
	}
}

// promotionFlags are shared by copy, export and import.
func promotionFlags() []cli.Flag {
	return flagsOf([]cli.Flag{
		&cli.BoolFlag{Name: "insecure-skip-verify", Usage: "copy without checking signatures", Category: "Trust"},
		&cli.StringFlag{Name: "countersign", Usage: "private key `FILE`: sign the copy and attest the promotion", Category: "Signing"},
		&cli.IntFlag{Name: "concurrency", Value: workflow.DefaultConcurrency, Usage: "blobs copied at once", Category: "Transfer"},
	}, trustFlags(), registryFlags(), outputFlags())
}

// copyTrust is default-deny, as for pull.
// promotion starts copy, export and import: the two arguments, --output, and the
// copy options with their trust checks.
func (e *env) promotion(c *cli.Context, from, to string) ([]string, string, workflow.CopyOptions, error) {
	a, err := args(c, from, to)
	if err != nil {
		return nil, "", workflow.CopyOptions{}, err
	}
	format, err := outputFormat(c)
	if err != nil {
		return nil, "", workflow.CopyOptions{}, err
	}
	opts, err := e.copyTrust(c)
	return a, format, opts, err
}

func (e *env) copyTrust(c *cli.Context) (workflow.CopyOptions, error) {
	opts := workflow.CopyOptions{Concurrency: c.Int("concurrency")}
	policy, insecure, err := e.needTrust(c, "WARNING: --insecure-skip-verify: signatures are NOT checked before or after the copy.")
	if err != nil {
		return opts, err
	}
	opts.InsecureSkipVerify = insecure
	opts.Policy = policy
	if k := c.String("countersign"); k != "" {
		if opts.Countersign, err = e.loadSigner(k); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

func (e *env) printCopy(format string, res *workflow.CopyResult) error {
	if format == "json" {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "%s -> %s\n%d copied (%s), %d already there, %d referrers, classic tags %v\n",
		res.Source, res.Destination, res.Copied, humanSize(res.BytesCopied), res.Skipped, res.Referrers, res.ClassicTags)
	if res.Verification != nil && res.Verification.Verified {
		fmt.Fprintf(e.stdout, "verified at the destination: signed by %v\n", res.Verification.Signers)
	}
	return nil
}

func (e *env) exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write a model with all its signatures and attestations to an OCI layout tar, for air-gapped sites",
		ArgsUsage: "REFERENCE FILE.tar",
		Description: `Verifies like copy, then writes an OCI image layout as a tar. Read it back
with oci-archive:FILE.tar[:TAG] (verify works offline), or vessel import.
--include-trust adds the --key and --policy files under vessel-trust/ in the
tar, for the receiving site to review; they are never trusted on their own.`,
		Flags: flagsOf([]cli.Flag{
			&cli.BoolFlag{Name: "include-trust", Usage: "add the --key/--policy files to the archive (vessel-trust/)"},
		}, promotionFlags()),
		Action: func(c *cli.Context) error {
			a, format, copyOpts, err := e.promotion(c, "REFERENCE", "FILE.tar")
			if err != nil {
				return err
			}
			opts := workflow.ExportOptions{Copy: copyOpts}
			if c.Bool("include-trust") {
				opts.Trust = map[string][]byte{}
				for _, f := range append(c.StringSlice("key"), c.String("policy")) {
					if f == "" {
						continue
					}
					data, err := e.readInput(f, 1<<20)
					if err != nil {
						return err
					}
					opts.Trust[filepath.Base(f)] = data
				}
			}
			src, err := openRepo(c, a[0])
			if err != nil {
				return err
			}
			res, err := workflow.Export(c.Context, src, a[1], opts)
			if err != nil {
				return err
			}
			return e.printCopy(format, res)
		},
	}
}

func (e *env) importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "copy a model from an OCI layout tar (vessel export) to a registry, verified",
		ArgsUsage: "FILE.tar[:TAG] REFERENCE",
		Flags:     promotionFlags(),
		Action: func(c *cli.Context) error {
			a, format, copyOpts, err := e.promotion(c, "FILE.tar", "REFERENCE")
			if err != nil {
				return err
			}
			archive, err := parseRef(registry.ArchivePrefix + a[0])
			if err != nil {
				return err
			}
			dst, err := openDest(c, a[1])
			if err != nil {
				return err
			}
			res, err := workflow.Import(c.Context, archive, dst, copyOpts)
			if err != nil {
				return err
			}
			return e.printCopy(format, res)
		},
	}
}
