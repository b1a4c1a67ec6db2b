package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/attest"
)

func (e *env) keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "make a signing key pair in cosign's formats (PREFIX.key encrypted, PREFIX.pub)",
		Description: `The private key is ECDSA P-256, encrypted with a password from
$VESSEL_PASSWORD, else $COSIGN_PASSWORD, else a prompt on a terminal.
cosign accepts both files as they are.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output-key-prefix", Value: "cosign", Usage: "write `PREFIX`.key and PREFIX.pub"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite existing key files"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("keygen takes no arguments")
			}
			prefix := c.String("output-key-prefix")
			priv, pub := prefix+".key", prefix+".pub"
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if c.Bool("force") {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			for _, p := range []string{priv, pub} {
				if _, err := os.Stat(p); err == nil && !c.Bool("force") {
					return fmt.Errorf("%s exists (use --force to overwrite)", p)
				}
			}
			pass, err := e.password(priv, true)
			if err != nil {
				return err
			}
			privPEM, pubPEM, err := attest.GenerateKeyPair(pass)
			if err != nil {
				return err
			}
			if err := writeFile(priv, privPEM, 0o600, flags); err != nil {
				return err
			}
			if err := writeFile(pub, pubPEM, 0o644, flags); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Private key written to %s\nPublic key written to %s\n", priv, pub)
			return nil
		},
	}
}

func writeFile(path string, data []byte, mode os.FileMode, flags int) error {
	f, err := os.OpenFile(path, flags, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
