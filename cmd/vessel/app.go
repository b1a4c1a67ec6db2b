package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/errdef"
)

// Exit codes, documented in README.md.
const (
	exitOK           = 0
	exitError        = 1
	exitUsage        = 2
	exitVerification = 3
	exitInterrupted  = 130
)

// version and commit are set at build time with -ldflags "-X
// main.version=... -X main.commit=..." (make build does); commit otherwise
// comes from the Go toolchain's VCS stamp, where it made one.
var (
	version = "dev"
	commit  = ""
)

// usageError marks a mistake in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// env carries the process's streams to commands, so an app can be built
// fresh in a test with buffers for output.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// NewApp builds the vessel command line.
func NewApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	app := &cli.App{
		Name:           "vessel",
		Usage:          "ship ML models and datasets through OCI registries, signed and verified",
		Version:        version,
		Reader:         stdin,
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(*cli.Context, error) {}, // Run maps errors to exit codes
		OnUsageError:   onUsageError,
		// The completion scripts ask vessel for the next words.
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			e.pushCommand(),
			e.pullCommand(),
			e.inspectCommand(),
			e.signCommand(),
			e.verifyCommand(),
			e.verifyDirCommand(),
			e.signDirCommand(),
			e.attestCommand(),
			e.attestationsCommand(),
			e.provenanceCommand(),
			e.copyCommand(),
			e.admissionCommand(),
			e.exportCommand(),
			e.importCommand(),
			e.cacheCommand(),
			e.keygenCommand(),
			e.loginCommand(),
			e.logoutCommand(),
			e.versionCommand(),
			e.completionCommand(),
		},
	}
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
	}
	return app
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }

// Run runs the app and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := NewApp(stdin, stdout, stderr)
	if len(args) == 0 || args[len(args)-1] != "--generate-bash-completion" {
		// urfave/cli looks for the completion flag last; leave it there.
		args = interspersed(app, args)
	}
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "vessel: %v\n", err)
	var ue usageError
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// Ctrl-C or SIGTERM: the shell's convention, 128 + SIGINT.
		fmt.Fprintln(stderr, "vessel: interrupted")
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errdef.ErrVerification):
		fmt.Fprintln(stderr, "vessel: verification failed")
		return exitVerification
	}
	return exitError
}
