package admission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// keyPair serves a certificate and key from files, read again when either
// file changes: cert-manager and kubelet secret volumes rotate them in
// place, and a webhook restarted for that would refuse pods meanwhile.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	certMod time.Time
	keyMod  time.Time
}

func (k *keyPair) load() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ci, err := os.Stat(k.certFile)
	if err != nil {
		return k.keep(err)
	}
	ki, err := os.Stat(k.keyFile)
	if err != nil {
		return k.keep(err)
	}
	if k.cert != nil && ci.ModTime().Equal(k.certMod) && ki.ModTime().Equal(k.keyMod) {
		return k.cert, nil
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		// Mid-rotation the two files may not match yet: keep serving the
		// pair that worked.
		return k.keep(fmt.Errorf("TLS key pair %s, %s: %w", k.certFile, k.keyFile, err))
	}
	k.cert, k.certMod, k.keyMod = &c, ci.ModTime(), ki.ModTime()
	return k.cert, nil
}

func (k *keyPair) keep(err error) (*tls.Certificate, error) {
	if k.cert != nil {
		return k.cert, nil
	}
	return nil, err
}

// Serve serves h over TLS on addr with the key pair in certFile and
// keyFile until ctx ends, then stops accepting and lets reviews in flight
// finish. A key pair that cannot be read at the start is an error.
func Serve(ctx context.Context, addr, certFile, keyFile string, h http.Handler) error {
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if _, err := kp.load(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: h,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.load() },
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      40 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
