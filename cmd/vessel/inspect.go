package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/workflow"
)

func (e *env) inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show a model's files, sizes, media types, digests and referrers",
		ArgsUsage: "REFERENCE",
		Flags:     flagsOf(registryFlags(), outputFlags()),
		Action: func(c *cli.Context) error {
			repo, format, err := oneRef(c)
			if err != nil {
				return err
			}
			in, err := workflow.Inspect(c.Context, repo)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(e.stdout, in)
			}
			return e.printInspection(in)
		},
	}
}

func (e *env) printInspection(in *workflow.Inspection) error {
	w := e.stdout
	fmt.Fprintf(w, "Reference:  %s\n", in.Reference)
	fmt.Fprintf(w, "Kind:       %s\n", in.Kind)
	if in.ArtifactType != "" {
		fmt.Fprintf(w, "Type:       %s\n", in.ArtifactType)
	}
	if c := in.Config; c != nil {
		if c.Descriptor.Name != "" || c.Descriptor.Version != "" {
			fmt.Fprintf(w, "Model:      %s %s\n", c.Descriptor.Name, c.Descriptor.Version)
		}
		if c.Config.Format != "" {
			fmt.Fprintf(w, "Format:     %s\n", c.Config.Format)
		}
	}
	fmt.Fprintf(w, "Size:       %s in %d files\n\n", humanSize(in.TotalSize), len(in.Files))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tSIZE\tMEDIA TYPE\tDIGEST")
	for _, f := range in.Files {
		mt := f.MediaType
		if f.Format != "raw" {
			mt += " (" + f.Format + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Path, humanSize(f.Size), mt, f.Digest)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nReferrers: %d\n", len(in.Referrers))
	if len(in.Referrers) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARTIFACT TYPE\tDIGEST\tSIZE")
	for _, r := range in.Referrers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ArtifactType, r.Digest, humanSize(r.Size))
	}
	return tw.Flush()
}
