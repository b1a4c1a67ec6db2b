package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/registry"
)

// Flags are grouped by concern and shared between commands.

func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "plain-http", Usage: "use http:// instead of https:// (automatic for loopback hosts)", Category: "Registry"},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra CA certificates for the registry", Category: "Registry"},
		&cli.BoolFlag{Name: "insecure-skip-tls-verify", Usage: "accept any TLS certificate from the registry (dangerous)", Category: "Registry"},
		&cli.Int64Flag{Name: "chunk-size", Usage: "upload blobs larger than `BYTES` in chunks (0: one request, chunks only if the registry refuses the size)", Category: "Registry"},
		&cli.Int64Flag{Name: "min-rate", Value: registry.DefaultMinRate, Usage: "give up on a response slower than `BYTES` per second over --min-rate-window (a download then resumes by range; -1: no limit)", Category: "Registry"},
		&cli.DurationFlag{Name: "min-rate-window", Value: registry.DefaultMinRateWindow, Usage: "the `DURATION` over which --min-rate is measured", Category: "Registry"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log registry decisions (upload method, fallbacks) to stderr", Category: "Output"},
	}
}

func registryOptions(c *cli.Context) registry.Options {
	opts := registry.Options{
		PlainHTTP:             c.Bool("plain-http"),
		CAFile:                c.String("ca-file"),
		InsecureSkipTLSVerify: c.Bool("insecure-skip-tls-verify"),
		UserAgent:             "vessel/" + version,
		ChunkSize:             c.Int64("chunk-size"),
		MinRate:               c.Int64("min-rate"),
		MinRateWindow:         c.Duration("min-rate-window"),
	}
	// Chunked upload sessions are recorded here so an interrupted push
	// resumes them; without a cache directory they are not recorded.
	if dir, err := os.UserCacheDir(); err == nil {
		opts.UploadStateDir = filepath.Join(dir, "vessel", "uploads")
	}
	if c.Bool("verbose") {
		opts.Logger = slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	}
	return opts
}

func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "output format: text or json", Category: "Output"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output", Category: "Output"},
	}
}

// outputFormat validates --output.
func outputFormat(c *cli.Context) (string, error) {
	switch f := c.String("output"); f {
	case "text", "json":
		return f, nil
	default:
		return "", usagef("--output %q: want text or json", f)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// args checks the positional arguments and returns them.
func args(c *cli.Context, names ...string) ([]string, error) {
	if c.NArg() != len(names) {
		return nil, usagef("%s: want %d arguments (%s), got %d", c.Command.Name, len(names), strings.Join(names, " "), c.NArg())
	}
	return c.Args().Slice(), nil
}

// oneRef starts a command that reads one REFERENCE and prints a result:
// the argument checked, --output checked, the repository opened.
func oneRef(c *cli.Context) (*registry.Repository, string, error) {
	a, err := args(c, "REFERENCE")
	if err != nil {
		return nil, "", err
	}
	format, err := outputFormat(c)
	if err != nil {
		return nil, "", err
	}
	repo, err := openRepo(c, a[0])
	if err != nil {
		return nil, "", err
	}
	return repo, format, nil
}

// parseRef parses a reference argument as a usage error when malformed.
func parseRef(s string) (registry.Reference, error) {
	ref, err := registry.ParseReference(s)
	if err != nil {
		return registry.Reference{}, usageError{err}
	}
	return ref, nil
}

// openDest opens a reference argument for writing: a missing OCI layout
// directory is created.
func openDest(c *cli.Context, s string) (*registry.Repository, error) {
	ref, err := parseRef(s)
	if err != nil {
		return nil, err
	}
	opts := registryOptions(c)
	opts.CreateLayout = true
	return registry.Open(c.Context, ref, opts)
}

// openRepo parses a reference argument and opens its repository with the
// command's registry flags.
func openRepo(c *cli.Context, s string) (*registry.Repository, error) {
	ref, err := parseRef(s)
	if err != nil {
		return nil, err
	}
	repo, err := registry.Open(c.Context, ref, registryOptions(c))
	if err != nil {
		return nil, err
	}
	tag, err := repo.ChooseOnlyTag(c.Context)
	if err != nil {
		return nil, usageError{err}
	}
	if tag != "" {
		fmt.Fprintf(c.App.ErrWriter, "vessel: %s names no tag; using its only one, %s\n", s, tag)
	}
	return repo, nil
}

// keyValues parses repeated KEY=VALUE flags.
func keyValues(flag string, vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(vals))
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q: want KEY=VALUE", flag, v)
		}
		m[k] = val
	}
	return m, nil
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func shortDigest(d fmt.Stringer) string {
	s := d.String()
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

// readCapped reads all of r, failing beyond max bytes.
func readCapped(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}
