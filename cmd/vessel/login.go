package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/registry"
)

func (e *env) loginCommand() *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "check credentials for a registry and save them in the Docker config",
		ArgsUsage: "HOST",
		Flags: flagsOf([]cli.Flag{
			&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "user name (empty: the secret is an identity token)"},
			&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "password or token (prefer --password-stdin)"},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password or token from standard input"},
		}, registryFlags()),
		Action: func(c *cli.Context) error {
			a, err := args(c, "HOST")
			if err != nil {
				return err
			}
			secret := c.String("password")
			if c.Bool("password-stdin") {
				if secret != "" {
					return usagef("give --password or --password-stdin, not both")
				}
				line, err := bufio.NewReader(e.stdin).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("read password from stdin: %w", err)
				}
				secret = strings.TrimRight(line, "\r\n")
			}
			if secret == "" {
				return usagef("login: give --password or --password-stdin")
			}
			if err := registry.Login(c.Context, a[0], c.String("username"), secret, registryOptions(c)); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Login succeeded: %s\n", a[0])
			return nil
		},
	}
}

func (e *env) logoutCommand() *cli.Command {
	return &cli.Command{
		Name:      "logout",
		Usage:     "remove saved credentials for a registry",
		ArgsUsage: "HOST",
		Action: func(c *cli.Context) error {
			a, err := args(c, "HOST")
			if err != nil {
				return err
			}
			if err := registry.Logout(c.Context, a[0], registry.Options{}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Removed credentials for %s\n", a[0])
			return nil
		},
	}
}
