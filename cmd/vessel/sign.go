package main

import (
	"fmt"
	"os"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/workflow"
)

// signFlags choose how a command signs: a private key, or keyless.
func signFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "key", Usage: "private key `FILE` (cosign's encrypted format, or PKCS#8/EC PEM)", Category: "Signing"},
		&cli.StringFlag{Name: "certificate", Usage: "with --key: the key's X.509 certificate `FILE` (PEM) from your own CA; verifiers trust the CA instead of the key", Category: "Signing"},
		&cli.StringFlag{Name: "certificate-chain", Usage: "with --certificate: the CA's intermediate certificates `FILE` (PEM; a root in it is left out), carried in OpenSSF model signatures", Category: "Signing"},
		&cli.BoolFlag{Name: "keyless", Usage: "sign keyless: a Fulcio certificate for the OIDC identity of this CI job (or --identity-token-file), with a timestamp and/or a transparency log entry", Category: "Signing"},
		&cli.StringFlag{Name: "identity-token-file", Usage: "keyless: OIDC identity token `FILE` (default: $SIGSTORE_ID_TOKEN, or GitHub Actions' token service)", Category: "Signing"},
		&cli.StringFlag{Name: "signing-config", Usage: "keyless: Sigstore signing config `FILE` (cosign's format) naming Fulcio, timestamp authorities and logs", Category: "Signing"},
		&cli.StringFlag{Name: "fulcio-url", Usage: "keyless: Fulcio `URL` (default " + attest.PublicFulcio + " unless a signing config names one)", Category: "Signing"},
		&cli.StringSliceFlag{Name: "timestamp-server-url", Usage: "keyless: RFC 3161 timestamp authority `URL` (.../api/v1/timestamp; repeatable)", Category: "Signing"},
		&cli.StringSliceFlag{Name: "rekor-url", Usage: "keyless: transparency log `URL` (repeatable; default " + attest.PublicRekor + " when no timestamp authority or signing config is given)", Category: "Signing"},
	}
}

// signer is the signer the signing flags name; nil when they name none.
func (e *env) signer(c *cli.Context) (attest.Signer, error) {
	keyless := c.Bool("keyless")
	services := c.IsSet("signing-config") || c.IsSet("fulcio-url") || c.IsSet("timestamp-server-url") || c.IsSet("rekor-url") || c.IsSet("identity-token-file")
	switch {
	case keyless && c.String("key") != "":
		return nil, usagef("give --key or --keyless, not both")
	case !keyless && services:
		return nil, usagef("--signing-config, --fulcio-url, --timestamp-server-url, --rekor-url and --identity-token-file are for --keyless")
	case c.String("certificate-chain") != "" && c.String("certificate") == "":
		return nil, usagef("--certificate-chain goes with --certificate")
	case c.String("certificate") != "" && c.String("key") == "":
		return nil, usagef("--certificate goes with --key: the certificate's private key")
	case c.String("key") != "":
		key, err := e.loadSigner(c.String("key"))
		if err != nil {
			return nil, err
		}
		if c.String("certificate") == "" {
			return key, nil
		}
		leaf, err := os.ReadFile(c.String("certificate"))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", attest.ErrKey, err)
		}
		var chain []byte
		if f := c.String("certificate-chain"); f != "" {
			if chain, err = os.ReadFile(f); err != nil {
				return nil, fmt.Errorf("%w: %v", attest.ErrKey, err)
			}
		}
		return attest.NewCertSigner(key, leaf, chain)
	case !keyless:
		return nil, nil
	}
	token := attest.AmbientToken
	if f := c.String("identity-token-file"); f != "" {
		token = attest.TokenFile(f)
	}
	if sc := c.String("signing-config"); sc != "" {
		if c.IsSet("fulcio-url") || c.IsSet("timestamp-server-url") || c.IsSet("rekor-url") {
			return nil, usagef("--signing-config names the services: not with --fulcio-url, --timestamp-server-url or --rekor-url")
		}
		cfg, err := root.NewSigningConfigFromPath(sc)
		if err != nil {
			return nil, fmt.Errorf("%w: signing config %s: %v", attest.ErrKey, sc, err)
		}
		return attest.KeylessFromSigningConfig(cfg, token)
	}
	k := &attest.KeylessSigner{Fulcio: c.String("fulcio-url"), TSAs: c.StringSlice("timestamp-server-url"), Rekor: c.StringSlice("rekor-url"), Token: token}
	if k.Fulcio == "" {
		k.Fulcio = attest.PublicFulcio
	}
	if len(k.TSAs) == 0 && len(k.Rekor) == 0 {
		k.Rekor = []string{attest.PublicRekor}
	}
	return k, nil
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
			signer, err := e.signer(c)
			if err != nil {
				return err
			}
			if signer == nil {
				return usagef("sign: --key FILE or --keyless is required")
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
