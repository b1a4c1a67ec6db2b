package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/workflow"
)

func signFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "key", Usage: "private key `FILE` (cosign's encrypted format, or PKCS#8 PEM)", Category: "Signing"},
	}
}

func (e *env) signCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign a pushed model; the signature is stored beside it (cosign bundle, OCI referrer)",
		ArgsUsage: "REFERENCE",
		Flags:     flagsOf(signFlags(), registryFlags(), outputFlags()),
		Action: func(c *cli.Context) error {
			a, err := args(c, "REFERENCE")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			if c.String("key") == "" {
				return usagef("sign: --key is required")
			}
			signer, err := e.loadSigner(c.String("key"))
			if err != nil {
				return err
			}
			repo, err := openRepo(c, a[0])
			if err != nil {
				return err
			}
			res, err := workflow.Sign(c.Context, repo, signer)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(e.stdout, res)
			}
			fmt.Fprintf(e.stdout, "Signed %s\nSignature %s\n", res.Reference, res.Signature)
			return nil
		},
	}
}
