package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// registryConfig is a minimal CNCF Distribution v3 configuration: filesystem
// storage, loopback only, quiet logs (access logs would dominate the log file
// and cost time on every request).
const registryConfig = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`

type registryProc struct {
	addr   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	log    *os.File
	waitCh <-chan error // receives cmd.Wait's result once
}

// startRegistry runs `registry serve` on a free loopback port with storage
// in dir and waits until /v2/ answers.
func startRegistry(ctx context.Context, bin, dir string) (*registryProc, error) {
	if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o755); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("registry: pick a free port: %w", err)
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, registryConfig, filepath.Join(dir, "storage"), addr), 0o644); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}

	rctx, cancel := context.WithCancel(ctx)
	cmd := newCmd(rctx, logFile, bin, "serve", cfg)
	// Distribution v3 wires OpenTelemetry from the environment; keep it from
	// trying to export anywhere.
	cmd.Env = append(os.Environ(), "OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=none",
		"OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		cancel()
		logFile.Close()
		return nil, fmt.Errorf("registry: start %s: %w", bin, err)
	}
	r := &registryProc{addr: addr, cmd: cmd, cancel: cancel, log: logFile}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			cancel()
			logFile.Close()
			return nil, fmt.Errorf("registry: %s exited before it was ready (%v); log:\n%s", bin, err, tail(logPath, 20))
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
			return nil, fmt.Errorf("registry: http://%s/v2/ not ready after 20s (last error: %v); log:\n%s", addr, err, tail(logPath, 20))
		}
	}
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
