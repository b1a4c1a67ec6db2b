// Package server is vessel's embedded OCI registry: olareg with directory
// storage and the OCI 1.1 referrers API, for local use, quick starts and
// tests. It is deliberately small; production belongs on a real registry.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
)

// Options configure the embedded registry. The zero value serves an
// in-memory registry with the referrers API.
type Options struct {
	// Root is the storage directory: one OCI layout per repository,
	// blobs at Root/<repo>/blobs/<alg>/<hex>. Empty means memory.
	Root string
	// DisableReferrers turns the referrers API off, to test the tag-schema
	// fallback. olareg then answers 405 (not 404) on the endpoint.
	DisableReferrers bool
	// Logger receives the registry's logs; nil discards them.
	Logger *slog.Logger
}

// Handler returns the registry as an http.Handler and a function that
// releases its storage.
func Handler(opts Options) (http.Handler, func() error) {
	conf := config.Config{
		Storage: config.ConfigStorage{StoreType: config.StoreMem},
		Log:     opts.Logger,
	}
	if opts.Root != "" {
		conf.Storage = config.ConfigStorage{StoreType: config.StoreDir, RootDir: opts.Root}
	}
	enabled := !opts.DisableReferrers
	conf.API.Referrer.Enabled = &enabled
	deletes := true
	conf.API.DeleteEnabled = &deletes
	s := olareg.New(conf)
	return serializeRepoInit(s), s.Close
}

// serializeRepoInit works around a data race in olareg v0.2.2's directory
// store: the first uploads into a new repository initialise it
// (dirRepo.repoInit) without a lock, so concurrent pushes race. Every call
// that can initialise a repository comes from starting an upload (POST) or
// putting a manifest, both small requests; they go one at a time, while
// blob data (PATCH/PUT to an upload session) still flows concurrently.
func serializeRepoInit(next http.Handler) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost || (r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")) {
			mu.Lock()
			defer mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// Serve listens on addr and serves the registry until ctx is done. ready,
// if not nil, receives the bound address (useful with port 0).
func Serve(ctx context.Context, addr string, opts Options, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	h, closeStore := Handler(opts)
	defer closeStore()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		// Connections still busy after the grace period (a client that
		// keeps one open) are cut: the user asked the server to stop.
		_ = srv.Close()
	}
	return nil
}
