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

// serializeRepoInit works around two races in olareg v0.2.2's directory
// store: a repository is initialised on its first write (dirRepo.repoInit)
// without a lock while other requests read the same state, and concurrent
// manifest puts with the same subject can lose a referrer. Until a
// repository has seen a successful write its requests go one at a time;
// after that only manifest writes (small) do, and blob data flows freely.
func serializeRepoInit(next http.Handler) http.Handler {
	var mu sync.Mutex
	var ready sync.Map // repository name -> struct{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo := repoName(r.URL.Path)
		manifestWrite := (r.Method == http.MethodPut || r.Method == http.MethodDelete) && strings.Contains(r.URL.Path, "/manifests/")
		if _, ok := ready.Load(repo); (ok && !manifestWrite) || repo == "" {
			next.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead && rec.status < 300 {
			ready.Store(repo, struct{}{})
		}
	})
}

// repoName extracts <name> from /v2/<name>/{blobs,manifests,referrers,tags}/...
func repoName(p string) string {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return ""
	}
	for _, sep := range []string{"/blobs/", "/manifests/", "/referrers/", "/tags/"} {
		if i := strings.LastIndex(rest, sep); i > 0 {
			return rest[:i]
		}
	}
	return ""
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
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
