package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// buildInfo is what `vessel version` reports: the release (set at build
// time, else the module version `go install` recorded), and the commit the
// Go toolchain stamped into the binary.
type buildInfo struct {
	Version  string `json:"version"`
	Module   string `json:"module"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commitTime,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Module: "github.com/vessel-oci/vessel", Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Module = bi.Main.Path
	if b.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

func (e *env) versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print vessel's version, module, commit and Go toolchain",
		Flags: outputFlags(),
		Action: func(c *cli.Context) error {
			if len(c.Args().Slice()) != 0 {
				return usagef("version takes no arguments")
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			b := readBuildInfo()
			if format == "json" {
				return writeJSON(e.stdout, b)
			}
			fmt.Fprintf(e.stdout, "vessel   %s\nmodule   %s\n", b.Version, b.Module)
			if b.Commit != "" {
				modified := ""
				if b.Modified {
					modified = ", with local changes"
				}
				when := ""
				if b.Time != "" {
					when = " (" + b.Time + modified + ")"
				}
				fmt.Fprintf(e.stdout, "commit   %s%s\n", b.Commit, when)
			}
			fmt.Fprintf(e.stdout, "go       %s %s\n", b.Go, b.Platform)
			return nil
		},
	}
}
