package registry

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// Login checks a username and password (or identity token) against host and
// saves them in the credential store.
func Login(ctx context.Context, host, username, secret string, opts Options) error {
	store := opts.Credentials
	if store == nil {
		var err error
		if store, err = DockerCredentials(); err != nil {
			return err
		}
	}
	opts.Credentials = store
	client, err := NewClient(host, opts)
	if err != nil {
		return err
	}
	reg, err := remote.NewRegistry(host)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrBadReference, host, err)
	}
	reg.Client = client
	reg.PlainHTTP = opts.usePlainHTTP(host)
	cred := auth.Credential{Username: username, Password: secret}
	if username == "" {
		cred = auth.Credential{RefreshToken: secret}
	}
	if err := credentials.Login(ctx, store, reg, cred); err != nil {
		return fmt.Errorf("login %s: %w", host, err)
	}
	return nil
}

// Logout removes host's credentials from the store.
func Logout(ctx context.Context, host string, opts Options) error {
	store := opts.Credentials
	if store == nil {
		var err error
		if store, err = DockerCredentials(); err != nil {
			return err
		}
	}
	if err := credentials.Logout(ctx, store, host); err != nil {
		return fmt.Errorf("logout %s: %w", host, err)
	}
	return nil
}
