package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/internal/fsx"
	"github.com/vessel-oci/vessel/oms"
)

// OpenSSF Model Signing for a directory (or a single file) on disk; no
// registry is involved.

func modelFileFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "signature", Usage: "the OMS bundle `FILE` (model.sig); left out of the model when it is inside it", Category: "Model"},
		&cli.StringSliceFlag{Name: "ignore-paths", Usage: "`PATH` to leave out, with its subtree (repeatable): relative to the model, or a path to something inside it (./model/cache)", Category: "Model"},
		&cli.BoolFlag{Name: "allow-symlinks", Usage: "follow symbolic links and hash their targets (refused otherwise)", Category: "Model"},
	}
}

func dirTrustFlags() []cli.Flag { return signerFlags() }

func (e *env) verifyDirCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify-dir",
		Usage:     "check a model directory (or file) against its OpenSSF Model Signing bundle",
		ArgsUsage: "PATH",
		Description: `Verifies the signature (with --key, --certificate-chain, or
--certificate-identity and --certificate-oidc-issuer), then that every signed
file is present and unchanged and that no unsigned file is present, as
model_signing verify does. Prints what it proved; exit code 3 when it fails.`,
		Flags: flagsOf(modelFileFlags(), []cli.Flag{
			&cli.BoolFlag{Name: "ignore-unsigned-files", Usage: "accept files the signature does not list (signed files are still checked)", Category: "Model"},
		}, dirTrustFlags(), outputFlags()),
		Action: func(c *cli.Context) error {
			a, err := args(c, "PATH")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			sig := c.String("signature")
			if sig == "" {
				return usagef("verify-dir: --signature FILE is required")
			}
			v, err := dirVerifier(c)
			if err != nil {
				return err
			}
			ignore, err := ignorePaths(a[0], c.StringSlice("ignore-paths"))
			if err != nil {
				return err
			}
			bundle, err := readBundle(sig)
			if err != nil {
				return err
			}
			res, err := oms.Verify(c.Context, a[0], bundle, v, oms.VerifyOptions{
				IgnorePaths:         ignore,
				IgnoreUnsignedFiles: c.Bool("ignore-unsigned-files"),
				AllowSymlinks:       c.Bool("allow-symlinks"),
				SignaturePath:       sig,
			})
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(e.stdout, struct {
					Path string `json:"path"`
					*oms.Result
				}{a[0], res})
			}
			printDirVerification(e.stdout, a[0], res)
			return nil
		},
	}
}

// dirVerifier builds the verifier the trust flags name: keys, a keyless
// identity or a CA's certificates (any one of them).
func dirVerifier(c *cli.Context) (oms.Verifier, error) {
	signers, err := flagSigners(c)
	if err != nil {
		return nil, err
	}
	if len(signers) == 0 {
		return nil, usagef("verify-dir: give --key PUB, --certificate-chain CA.pem, or --certificate-identity ID with --certificate-oidc-issuer URL")
	}
	return oms.SignerVerifier(signers...), nil
}

// ignorePaths turns --ignore-paths values into model-relative paths. A
// value that, from the working directory, names something inside the model
// is taken as model_signing takes it (./model/cache is "cache"); any other
// relative value is already relative to the model.
func ignorePaths(model string, vals []string) ([]string, error) {
	absModel, err := filepath.Abs(model)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vals {
		abs, err := filepath.Abs(v)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(absModel, abs)
		inside := err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
		switch {
		case inside:
			out = append(out, filepath.ToSlash(rel))
		case filepath.IsAbs(v):
			return nil, usagef("--ignore-paths %s: not inside the model %s", v, model)
		default:
			p := filepath.ToSlash(filepath.Clean(v))
			if p == "." || p == ".." || strings.HasPrefix(p, "../") {
				return nil, usagef("--ignore-paths %s: not inside the model %s", v, model)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// readBundle reads a bundle file, at most one byte more than
// oms.MaxBundleSize, so that oms.Verify refuses an oversized one itself.
func readBundle(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, oms.MaxBundleSize+1))
}

func printDirVerification(w io.Writer, path string, r *oms.Result) {
	fmt.Fprintf(w, "Verified   %s: %d signed file(s) match\n", path, r.Files)
	switch r.Method {
	case oms.SigningSigstore:
		fmt.Fprintf(w, "Signer     sigstore %s (issuer %s)\n", r.Signer, r.Issuer)
	case oms.SigningCertificate:
		fmt.Fprintf(w, "Signer     certificate %s\n", r.Certificate)
	default:
		fmt.Fprintf(w, "Signer     %s %s\n", r.Method, r.Signer)
	}
	fmt.Fprintf(w, "Statement  %s, model %q", r.PredicateType, r.Model)
	if r.RootDigest != "" {
		fmt.Fprintf(w, " %s", r.RootDigest)
	}
	fmt.Fprintln(w)
	s := r.Serialization
	how := "whole files"
	if s.Method == oms.MethodShards {
		how = fmt.Sprintf("shards of %d bytes", s.ShardSize)
	}
	fmt.Fprintf(w, "Hashing    %s, %s, %d digest(s)", how, s.HashType, r.Resources)
	if s.AllowSymlinks {
		fmt.Fprint(w, ", symbolic links followed")
	}
	fmt.Fprintln(w)
	if len(r.Unsigned) > 0 {
		fmt.Fprintf(w, "Unsigned   %s (accepted: --ignore-unsigned-files)\n", strings.Join(r.Unsigned, ", "))
	}
}

func (e *env) signDirCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign-dir",
		Usage:     "sign a model directory (or file) as an OpenSSF Model Signing bundle",
		ArgsUsage: "PATH",
		Description: `Hashes every file (.git, .gitignore, .gitattributes, .github at the top
level, the signature file and --ignore-paths left out) and writes the bundle
that model_signing sign key writes; model_signing verify and vessel
verify-dir accept it.`,
		Flags: flagsOf(modelFileFlags(), signFlags(), []cli.Flag{
			&cli.StringFlag{Name: "hash", Value: oms.HashSHA256, Usage: "file hash: sha256, blake2b or blake3", Category: "Signing"},
			&cli.Int64Flag{Name: "shards", Usage: "hash byte ranges of `SIZE` bytes instead of whole files (the spec's default size is 1000000000)", Category: "Signing"},
		}),
		Action: func(c *cli.Context) error {
			a, err := args(c, "PATH")
			if err != nil {
				return err
			}
			sig := c.String("signature")
			if sig == "" {
				return usagef("sign-dir: --signature FILE is required")
			}
			opts := oms.SignOptions{SignaturePath: sig, AllowSymlinks: c.Bool("allow-symlinks"), HashType: c.String("hash")}
			switch opts.HashType {
			case oms.HashSHA256, oms.HashBLAKE2b, oms.HashBLAKE3:
			default:
				return usagef("sign-dir: --hash %q: want sha256, blake2b or blake3", opts.HashType)
			}
			switch n := c.Int64("shards"); {
			case n < 0:
				return usagef("sign-dir: --shards %d: want a positive size", n)
			case n > 0:
				opts.Method, opts.ShardSize = oms.MethodShards, n
			}
			if opts.IgnorePaths, err = ignorePaths(a[0], c.StringSlice("ignore-paths")); err != nil {
				return err
			}
			signer, err := e.signer(c)
			if err != nil {
				return err
			}
			if signer == nil {
				return usagef("sign-dir: --key FILE (ECDSA P-256, P-384 or P-521) or --keyless is required")
			}
			bundle, err := oms.Sign(c.Context, a[0], signer, opts)
			if err != nil {
				return err
			}
			if err := fsx.WriteFile(sig, bundle, 0o644, fsx.Durable); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Signed     %s\nSignature  %s\n", a[0], sig)
			return nil
		},
	}
}
