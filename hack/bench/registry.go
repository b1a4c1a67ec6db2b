//go:build linux

package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Registries the bench can run against, in report order.
const (
	regDistribution = "distribution" // CNCF Distribution, filesystem storage
	regOlareg       = "olareg"       // olareg directory storage, served by vessel-registry
)

var registryNames = []string{regDistribution, regOlareg}

// registryConfig is a minimal CNCF Distribution v3 configuration: filesystem
// storage, loopback only, quiet logs (access logs would dominate the log file
// and cost time on every request). Deletes are on, as in the e2e harness:
// Distribution has no referrers API, and signing falls back to the referrers
// tag schema, which deletes the index it supersedes.
const registryConfig = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`

// registryBins are the binaries that serve the registries: Distribution's
// own, and vessel-registry for olareg.
type registryBins struct {
	distribution string
	olareg       string
}

type registryProc struct {
	name    string
	label   string // for the report: what it is and how it stores
	addr    string
	storage string
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	log     *os.File
	waitCh  <-chan error // receives cmd.Wait's result once
}

// startRegistry runs the named registry on a free loopback port with its
// storage under dir and waits until /v2/ answers.
func startRegistry(ctx context.Context, name string, bins registryBins, dir string) (*registryProc, error) {
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("%s: pick a free port: %w", name, err)
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &registryProc{name: name, addr: addr, storage: storage, cancel: cancel, log: logFile}

	switch name {
	case regDistribution:
		r.label = "CNCF Distribution " + distributionVersion(ctx, bins.distribution) + ", filesystem storage"
		cfg := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfg, fmt.Appendf(nil, registryConfig, storage, addr), 0o644); err != nil {
			r.stopWith(nil)
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r.cmd = newCmd(rctx, logFile, bins.distribution, "serve", cfg)
		// Distribution v3 wires OpenTelemetry from the environment; keep it
		// from trying to export anywhere.
		r.cmd.Env = append(os.Environ(), "OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=none",
			"OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	case regOlareg:
		r.label = "olareg " + olaregVersion(bins.olareg) + " (vessel-registry), directory storage, one OCI layout per repository"
		r.cmd = newCmd(rctx, logFile, bins.olareg, "--addr", addr, "--root", storage)
	default:
		r.stopWith(nil)
		return nil, fmt.Errorf("unknown registry %q", name)
	}

	if err := r.cmd.Start(); err != nil {
		r.stopWith(nil)
		return nil, fmt.Errorf("%s: start %s: %w", name, r.cmd.Path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			r.stopWith(nil)
			return nil, fmt.Errorf("%s: %s exited before it was ready (%v); log:\n%s", name, r.cmd.Path, err, tail(logPath, 20))
		case <-ctx.Done():
			r.stopWith(exited)
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				r.waitCh = exited
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			r.stopWith(exited)
			return nil, fmt.Errorf("%s: http://%s/v2/ not ready after 20s (last error: %v); log:\n%s", name, addr, err, tail(logPath, 20))
		}
	}
}

// dropRepo frees the storage of a repository the bench is done with. olareg
// keeps a full OCI layout per repository, so every push and copy to a fresh
// repository costs the model's size again (4 GiB x 5 runs x 2 tools x 2 ops
// would not fit on a small disk); removing the layout behind the server's
// back is fine because the bench never touches that repository again.
// Distribution stores each blob once for all repositories: nothing to free.
func (r *registryProc) dropRepo(repo string) error {
	if r.name != regOlareg {
		return nil
	}
	return os.RemoveAll(filepath.Join(r.storage, filepath.FromSlash(repo)))
}

// repoData is the storage a pull of repo reads: olareg keeps one OCI
// layout per repository, Distribution one blob store for all.
func (r *registryProc) repoData(repo string) string {
	if r.name == regOlareg {
		return filepath.Join(r.storage, filepath.FromSlash(repo))
	}
	return r.storage
}

// stop terminates the registry (SIGTERM, SIGKILL after newCmd's grace
// period) and waits for it.
func (r *registryProc) stop() {
	r.stopWith(r.waitCh)
}

func (r *registryProc) stopWith(exited <-chan error) {
	r.cancel()
	if exited != nil {
		<-exited
	}
	r.log.Close()
}

func distributionVersion(ctx context.Context, bin string) string {
	// "registry github.com/distribution/distribution/v3 v3.1.2"
	f := strings.Fields(firstLine(ctx, bin, "--version"))
	return f[len(f)-1]
}

// olaregVersion reads the olareg module version that vessel-registry was
// built with.
func olaregVersion(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "version unknown"
	}
	for _, m := range info.Deps {
		if m.Path == "github.com/olareg/olareg" {
			return m.Version
		}
	}
	return "version unknown"
}

// freeLoopbackAddr asks the kernel for a free port. The port is released
// before the registry binds it; on a 2-core dev box the race is theoretical,
// and a lost race shows up as "exited before it was ready".
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
