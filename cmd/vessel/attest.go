package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/workflow"
)

func (e *env) attestCommand() *cli.Command {
	return &cli.Command{
		Name:      "attest",
		Usage:     "sign a statement about a pushed model (provenance, evaluation, ...) and store it beside it",
		ArgsUsage: "REFERENCE",
		Flags: flagsOf(signFlags(), []cli.Flag{
			&cli.StringFlag{Name: "type", Usage: "predicate type `URI` (e.g. https://slsa.dev/provenance/v1)", Category: "Attestation"},
			&cli.StringFlag{Name: "predicate", Usage: "predicate `FILE` (a JSON object; - for stdin)", Category: "Attestation"},
			&cli.StringFlag{Name: "envelope", Usage: "attach a DSSE envelope signed elsewhere (`FILE`: `witness run -o`, any in-toto tool's), as cosign stores attestations; no --key, --type or --predicate", Category: "Attestation"},
		}, registryFlags(), outputFlags()),
		Action: func(c *cli.Context) error {
			a, err := args(c, "REFERENCE")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			if env := c.String("envelope"); env != "" {
				if c.IsSet("key") || c.Bool("keyless") || c.IsSet("type") || c.IsSet("predicate") {
					return usagef("attest --envelope attaches what another tool signed: no --key, --keyless, --type or --predicate")
				}
				data, err := e.readInput(env, attest.MaxBundleSize)
				if err != nil {
					return err
				}
				repo, err := openRepo(c, a[0])
				if err != nil {
					return err
				}
				res, err := workflow.AttachEnvelope(c.Context, repo, data)
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(e.stdout, res)
				}
				fmt.Fprintf(e.stdout, "Attached %s\nType %s\nAttestation %s\n", res.Reference, res.PredicateType, res.Signature)
				return nil
			}
			if c.String("type") == "" || c.String("predicate") == "" {
				return usagef("attest: --type and --predicate are required (or --envelope)")
			}
			predicate, err := e.readInput(c.String("predicate"), attest.MaxBundleSize)
			if err != nil {
				return err
			}
			signer, err := e.signer(c)
			if err != nil {
				return err
			}
			if signer == nil {
				return usagef("attest: --key FILE or --keyless is required")
			}
			repo, err := openRepo(c, a[0])
			if err != nil {
				return err
			}
			res, err := workflow.Attest(c.Context, repo, signer, c.String("type"), predicate)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(e.stdout, res)
			}
			fmt.Fprintf(e.stdout, "Attested %s\nType %s\nAttestation %s\n", res.Reference, res.PredicateType, res.Signature)
			return nil
		},
	}
}

func (e *env) attestationsCommand() *cli.Command {
	return &cli.Command{
		Name:      "attestations",
		Usage:     "verify and list a model's attestations from trusted signers, with their predicates",
		ArgsUsage: "REFERENCE",
		Flags: flagsOf(trustFlags(), []cli.Flag{
			&cli.StringFlag{Name: "type", Usage: "only attestations of predicate type `URI`", Category: "Attestation"},
		}, registryFlags(), outputFlags()),
		Action: func(c *cli.Context) error {
			policy, err := needPolicy(c)
			if err != nil {
				return err
			}
			repo, format, err := oneRef(c)
			if err != nil {
				return err
			}
			list, err := workflow.Attestations(c.Context, repo, policy, c.String("type"))
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(e.stdout, list)
			}
			fmt.Fprintf(e.stdout, "Reference  %s\nManifest   %s\n", list.Reference, list.Digest)
			for _, at := range list.Attestations {
				fmt.Fprintf(e.stdout, "\n%s\n  signed by %s %s, %s %s\n", at.PredicateType, signedBy(at.Signer, at.KeyID, at.Identity, at.Issuer, at.CA), at.Created, at.Source, shortDigest(at.Digest))
				var st struct {
					Predicate json.RawMessage `json:"predicate"`
				}
				if json.Unmarshal(at.Statement, &st) == nil && len(st.Predicate) > 0 {
					var pretty strings.Builder
					enc := json.NewEncoder(&pretty)
					enc.SetIndent("  ", "  ")
					var v any
					if json.Unmarshal(st.Predicate, &v) == nil && enc.Encode(v) == nil {
						fmt.Fprintf(e.stdout, "  %s", pretty.String())
					}
				}
			}
			for _, r := range list.Refused {
				fmt.Fprintf(e.stdout, "\nrefused %s %s: %s\n", r.Source, shortDigest(r.Digest), r.Error)
			}
			if len(list.Attestations) == 0 {
				fmt.Fprintln(e.stdout, "\n(no verified attestations)")
			}
			return nil
		},
	}
}

func (e *env) provenanceCommand() *cli.Command {
	return &cli.Command{
		Name:      "provenance",
		Usage:     "print a SLSA v1 provenance predicate for a model (feed it to attest --predicate -)",
		ArgsUsage: "REFERENCE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "builder-id", Usage: "`URI` of the builder (CI runner, training system)"},
			&cli.StringFlag{Name: "build-type", Usage: "`URI` of the build type (default vessel's model build type)"},
			&cli.StringSliceFlag{Name: "material", Usage: "input `NAME=REF@DIGEST` (dataset, base model; repeatable)"},
			&cli.BoolFlag{Name: "from-env", Usage: "fill builder id, invocation and source from GitHub Actions or GitLab CI variables"},
		},
		Action: func(c *cli.Context) error {
			a, err := args(c, "REFERENCE")
			if err != nil {
				return err
			}
			opts := attest.ProvenanceOptions{
				BuilderID:          c.String("builder-id"),
				BuildType:          c.String("build-type"),
				ExternalParameters: map[string]any{"model": a[0]},
			}
			for _, m := range c.StringSlice("material") {
				mat, err := parseMaterial(m)
				if err != nil {
					return err
				}
				opts.Materials = append(opts.Materials, mat)
			}
			attest.SortMaterials(opts.Materials)
			if c.Bool("from-env") {
				var ci string
				if opts, ci = attest.CIProvenance(environ(), opts); ci == "" {
					return usagef("--from-env: no GitHub Actions or GitLab CI environment found")
				}
			}
			if opts.BuilderID == "" {
				return usagef("provenance: give --builder-id (or --from-env in CI)")
			}
			p, err := attest.Provenance(opts)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, string(p))
			return err
		},
	}
}

// parseMaterial parses NAME=REF@DIGEST; a material must be pinned.
func parseMaterial(s string) (attest.Material, error) {
	name, ref, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return attest.Material{}, usagef("--material %q: want NAME=REF@DIGEST", s)
	}
	r, err := parseRef(ref)
	if err != nil {
		return attest.Material{}, err
	}
	if r.Digest == "" {
		return attest.Material{}, usagef("--material %q: pin it by digest (REF@sha256:...)", s)
	}
	uri := "oci://" + r.String()
	if r.IsLayout() {
		uri = r.String()
	}
	return attest.Material{Name: name, URI: uri, Digest: r.Digest}, nil
}

// environ is the process environment as a map, for --from-env.
func environ() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// readInput reads a small file, or stdin for "-", capped at max bytes.
func (e *env) readInput(path string, max int64) ([]byte, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = readCapped(e.stdin, max)
	} else {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			data, err = readCapped(f, max)
			f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}
