package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vessel-oci/vessel/attest"
)

// trustFlags choose whose signatures a verify or pull accepts.
func trustFlags() []cli.Flag {
	return append(signerFlags(),
		&cli.StringFlag{Name: "policy", Usage: "trust policy `FILE` (YAML; default $XDG_CONFIG_HOME/vessel/policy.yaml if present)", Category: "Trust"},
		// Where no file can be mounted (a KServe storage container has
		// environment variables only), the policy itself, keys inline
		// (keyData).
		&cli.StringFlag{Name: "policy-data", EnvVars: []string{"VESSEL_POLICY_DATA"}, Usage: "trust policy `YAML` itself, with keys inline (keyData): for where no file can be mounted", Category: "Trust"},
	)
}

// signerFlags name trusted signers on the command line, as cosign's
// verify flags do: public keys, and one keyless identity.
func signerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "key", Usage: "trusted public key `FILE` (PEM) or key service URI (awskms://...; repeatable: any one of them, or the keyless identity, suffices)", Category: "Trust"},
		&cli.StringFlag{Name: "certificate-identity", Usage: "keyless signer: the certificate's identity (email, URI), exactly", Category: "Trust"},
		&cli.StringFlag{Name: "certificate-identity-regexp", Usage: "keyless signer: the certificate's identity matching `REGEXP` (anchor it: ^https://github.com/org/repo/)", Category: "Trust"},
		&cli.StringFlag{Name: "certificate-oidc-issuer", Usage: "keyless signer: the OIDC issuer `URL` that vouched for the identity, exactly", Category: "Trust"},
		&cli.StringFlag{Name: "certificate-oidc-issuer-regexp", Usage: "keyless signer: the OIDC issuer matching `REGEXP`", Category: "Trust"},
		&cli.StringFlag{Name: "trusted-root", Usage: "Sigstore trusted root `FILE` (trusted_root.json) for keyless signers, offline (default: Sigstore's public instance, fetched with TUF and cached in ~/.sigstore/root for offline use)", Category: "Trust"},
		&cli.BoolFlag{Name: "insecure-ignore-sct", Usage: "accept a keyless certificate without a CT log's signed timestamp although the trusted root lists CT logs", Category: "Trust"},
		&cli.StringFlag{Name: "certificate-chain", Usage: "PEM `FILE` of a certificate authority's certificates (root, intermediates): trust signatures whose certificate it issued (and that name --certificate-identity[-regexp], if given)", Category: "Trust"},
	}
}

// flagSigners are the signers --key and the keyless identity flags name.
func flagSigners(c *cli.Context) ([]attest.TrustedSigner, error) {
	var trusted []attest.TrustedSigner
	for _, k := range c.StringSlice("key") {
		v, err := attest.LoadTrustedKey(context.Background(), k)
		if err != nil {
			return nil, err
		}
		trusted = append(trusted, attest.TrustedSigner{Name: k, Key: v})
	}
	identity, identityRE := c.String("certificate-identity"), c.String("certificate-identity-regexp")
	issuer, issuerRE := c.String("certificate-oidc-issuer"), c.String("certificate-oidc-issuer-regexp")
	if chain := c.String("certificate-chain"); chain != "" {
		// A CA of the signer's own: the identity flags are its.
		if issuer != "" || issuerRE != "" || c.IsSet("trusted-root") || c.Bool("insecure-ignore-sct") {
			return nil, usagef("--certificate-chain names a CA of your own: --certificate-oidc-issuer, --trusted-root and --insecure-ignore-sct are for keyless signers")
		}
		pem, err := os.ReadFile(chain)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %v", attest.ErrKey, chain, err)
		}
		cc, err := attest.NewCertChain(pem, identity, identityRE)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", chain, err)
		}
		return append(trusted, attest.TrustedSigner{Name: cc.String(), CertChain: cc}), nil
	}
	if identity == "" && identityRE == "" && issuer == "" && issuerRE == "" {
		if c.IsSet("trusted-root") || c.Bool("insecure-ignore-sct") {
			return nil, usagef("--trusted-root and --insecure-ignore-sct are for a keyless signer: name it with --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]")
		}
		return trusted, nil
	}
	if (identity == "") == (identityRE == "") || (issuer == "") == (issuerRE == "") {
		return nil, usagef("a keyless signer needs one of --certificate-identity, --certificate-identity-regexp and one of --certificate-oidc-issuer, --certificate-oidc-issuer-regexp")
	}
	tr, err := attest.TrustedRoot(c.String("trusted-root"))
	if err != nil {
		return nil, err
	}
	k, err := attest.NewKeyless(attest.Keyless{Identity: identity, IdentityRegexp: identityRE, Issuer: issuer, IssuerRegexp: issuerRE,
		Root: tr, InsecureIgnoreSCT: c.Bool("insecure-ignore-sct")})
	if err != nil {
		return nil, usagef("%v", err)
	}
	name := identity
	if name == "" {
		name = "~" + identityRE
	}
	return append(trusted, attest.TrustedSigner{Name: name, Keyless: k}), nil
}

// errNoTrust: pull refuses to run without a trust configuration.
var errNoTrust = usageError{errors.New("no trust configured: give --key PUB or --policy FILE (or a default policy file), or --insecure-skip-verify to pull unverified")}

// trustPolicy builds the policy from the signer flags or --policy, or the
// default policy file; nil means none is configured.
func trustPolicy(c *cli.Context) (*attest.Policy, error) {
	signers, err := flagSigners(c)
	if err != nil {
		return nil, err
	}
	policyFile, policyData := c.String("policy"), c.String("policy-data")
	if len(signers) > 0 && (policyFile != "" || policyData != "") || policyFile != "" && policyData != "" {
		return nil, usagef("give one of --key (or a keyless identity), --policy, --policy-data (VESSEL_POLICY_DATA)")
	}
	if len(signers) > 0 {
		return attest.KeyPolicy(signers), nil
	}
	if policyFile != "" {
		return attest.LoadPolicy(policyFile)
	}
	if policyData != "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		p, err := attest.ParsePolicy([]byte(policyData), wd)
		if err != nil {
			return nil, fmt.Errorf("--policy-data: %w", err)
		}
		return p, nil
	}
	if def := defaultPolicyPath(); def != "" {
		if _, err := os.Stat(def); err == nil {
			return attest.LoadPolicy(def)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w %s: %v", attest.ErrPolicyFile, def, err)
		}
	}
	return nil, nil
}

// needPolicy is trustPolicy for commands that cannot run without one.
func needPolicy(c *cli.Context) (*attest.Policy, error) {
	p, err := trustPolicy(c)
	if err == nil && p == nil {
		err = usagef("%s: give --key PUB or --policy FILE", c.Command.Name)
	}
	return p, err
}

// defaultPolicyPath is $XDG_CONFIG_HOME/vessel/policy.yaml (os.UserConfigDir
// follows XDG_CONFIG_HOME, falling back to ~/.config).
func defaultPolicyPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "vessel", "policy.yaml")
}

// loadSigner reads a private key, asking for its password if it has one,
// or opens one in a hardware security module by its PKCS#11 URI.
func (e *env) loadSigner(path string) (*attest.KeySigner, error) {
	if strings.HasPrefix(path, attest.PKCS11Scheme) {
		// The module's session lasts as long as the command.
		s, _, err := attest.LoadPKCS11(path)
		return s, err
	}
	if attest.IsKMS(path) {
		return attest.LoadKMS(context.Background(), path)
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", attest.ErrKey, path, err)
	}
	var pass []byte
	if attest.IsEncrypted(pem) {
		if pass, err = e.password(path, false); err != nil {
			return nil, err
		}
	}
	s, err := attest.LoadPrivateKey(pem, pass)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// password comes from $VESSEL_PASSWORD, else $COSIGN_PASSWORD (set, even
// empty, counts), else a prompt on a terminal, else an error.
func (e *env) password(what string, confirm bool) ([]byte, error) {
	for _, name := range []string{"VESSEL_PASSWORD", "COSIGN_PASSWORD"} {
		if v, ok := os.LookupEnv(name); ok {
			return []byte(v), nil
		}
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, fmt.Errorf("%w %s: password needed: set VESSEL_PASSWORD (or COSIGN_PASSWORD), or run on a terminal", attest.ErrKey, what)
	}
	fmt.Fprintf(e.stderr, "Password for %s: ", what)
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if confirm {
		fmt.Fprintf(e.stderr, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if string(again) != string(p) {
			return nil, usagef("passwords do not match")
		}
	}
	return p, nil
}

// needTrust is default-deny: a command that reads a model needs a key or
// policy, or the user must say out loud (--insecure-skip-verify) that
// signatures are not checked, and is then warned.
func (e *env) needTrust(c *cli.Context, warning string) (*attest.Policy, bool, error) {
	policy, err := trustPolicy(c)
	if err != nil {
		return nil, false, err
	}
	insecure := c.Bool("insecure-skip-verify")
	switch {
	case policy != nil && insecure:
		return nil, false, usagef("--insecure-skip-verify contradicts --key/--policy")
	case insecure:
		fmt.Fprintln(e.stderr, warning)
		return nil, true, nil
	case policy == nil:
		return nil, false, errNoTrust
	}
	return policy, false, nil
}
