package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/attest"
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
		Flags: flagsOf([]cli.Flag{
			&cli.BoolFlag{Name: "insecure-skip-verify", Usage: "copy without checking signatures", Category: "Trust"},
			&cli.StringFlag{Name: "countersign", Usage: "private key `FILE`: sign the copy and attest the promotion", Category: "Signing"},
			&cli.IntFlag{Name: "concurrency", Value: workflow.DefaultConcurrency, Usage: "blobs copied at once", Category: "Transfer"},
		}, trustFlags(), registryFlags(), outputFlags()),
		Action: func(c *cli.Context) error {
			a, err := args(c, "SOURCE", "DESTINATION")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			policy, err := trustPolicy(c)
			if err != nil {
				return err
			}
			switch insecure := c.Bool("insecure-skip-verify"); {
			case policy != nil && insecure:
				return usagef("--insecure-skip-verify contradicts --key/--policy")
			case insecure:
				fmt.Fprintln(e.stderr, "WARNING: --insecure-skip-verify: signatures are NOT checked before or after the copy.")
			case policy == nil:
				return errNoTrust
			}
			var signer attest.Signer
			if k := c.String("countersign"); k != "" {
				if signer, err = e.loadSigner(k); err != nil {
					return err
				}
			}
			src, err := openRepo(c, a[0])
			if err != nil {
				return err
			}
			dstRef, err := parseRef(a[1])
			if err != nil {
				return err
			}
			ropts := registryOptions(c)
			ropts.CreateLayout = true
			dst, err := registry.Open(c.Context, dstRef, ropts)
			if err != nil {
				return err
			}
			res, err := workflow.Copy(c.Context, src, dst, workflow.CopyOptions{Policy: policy, Countersign: signer, Concurrency: c.Int("concurrency")})
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(e.stdout, res)
			}
			fmt.Fprintf(e.stdout, "%s -> %s\n%d copied (%s), %d already there, %d referrers, classic tags %v\n",
				res.Source, res.Destination, res.Copied, humanSize(res.BytesCopied), res.Skipped, res.Referrers, res.ClassicTags)
			if res.Verification != nil && res.Verification.Verified {
				fmt.Fprintf(e.stdout, "verified at the destination: signed by %v\n", res.Verification.Signers)
			}
			return nil
		},
	}
}
