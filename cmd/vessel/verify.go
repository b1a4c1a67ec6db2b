package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/workflow"
)

func (e *env) verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a model's signatures against a key or trust policy",
		ArgsUsage: "REFERENCE",
		Description: `Prints the chain it proved: reference -> manifest digest -> each signature
(who, which key, when) -> the policy's verdict. Exit code 3 when the policy
is not met.`,
		Flags: flagsOf(trustFlags(), registryFlags(), outputFlags()),
		Action: func(c *cli.Context) error {
			policy, err := needPolicy(c)
			if err != nil {
				return err
			}
			repo, format, err := oneRef(c)
			if err != nil {
				return err
			}
			v, err := workflow.Verify(c.Context, repo, policy)
			if v != nil {
				if format == "json" {
					if jerr := writeJSON(e.stdout, v); jerr != nil {
						return jerr
					}
				} else {
					printVerification(e.stdout, v)
				}
			}
			return err
		},
	}
}

// signedBy names a signer with what proved it: a key's ID, a keyless
// certificate's identity and issuer, or a certificate's identity and CA.
func signedBy(signer, keyID, identity, issuer, ca string) string {
	switch {
	case ca != "":
		return fmt.Sprintf("%s (certificate %s, CA %s)", signer, identity, ca)
	case identity != "":
		return fmt.Sprintf("%s (keyless %s, issuer %s)", signer, identity, issuer)
	}
	return fmt.Sprintf("%s (key %s)", signer, keyID)
}

func printVerification(w io.Writer, v *workflow.Verification) {
	fmt.Fprintf(w, "Reference  %s\n", v.Reference)
	fmt.Fprintf(w, "Manifest   %s\n", v.Digest)
	if v.Scope != "" {
		fmt.Fprintf(w, "Policy     scope %q: %d trusted signer(s) required\n", v.Scope, v.Threshold)
	}
	for _, s := range v.Signatures {
		if s.Verified {
			when := ""
			if s.Created != "" {
				when = ", " + s.Created
			}
			fmt.Fprintf(w, "  ok       %s %s: signed by %s%s\n", s.Source, shortDigest(s.Digest), signedBy(s.Signer, s.KeyID, s.Identity, s.Issuer, s.CA), when)
		} else {
			fmt.Fprintf(w, "  refused  %s %s: %s\n", s.Source, shortDigest(s.Digest), s.Error)
		}
	}
	if len(v.Signatures) == 0 {
		fmt.Fprintln(w, "  (no signatures found)")
	}
	for _, a := range v.Attestations {
		if a.Satisfied {
			fmt.Fprintf(w, "  ok       required attestation %s: by %s (%s)\n", a.Type, a.By, shortDigest(a.Digest))
		} else {
			fmt.Fprintf(w, "  missing  required attestation %s\n", a.Error)
		}
	}
	if v.Verified {
		fmt.Fprintf(w, "Verdict    verified: signed by %s\n", strings.Join(v.Signers, ", "))
	} else {
		fmt.Fprintf(w, "Verdict    NOT verified\n")
	}
}
