package main

import (
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/vessel-oci/vessel/admission"
)

func (e *env) admissionCommand() *cli.Command {
	return &cli.Command{
		Name:  "admission",
		Usage: "serve a Kubernetes admission webhook that refuses pods mounting unverified models",
		Description: `Answers admission.k8s.io/v1 AdmissionReviews for pods on POST /validate and
POST /mutate. Every image volume, KServe modelcar image and oci:// storage
URI must verify against the trust policy, or the pod is denied with the
reference and the reason. /mutate also pins each tag to the digest it
verified (a JSONPatch), so the kubelet mounts exactly that. A model that
cannot be checked (registry down, timeout) is denied unless
--insecure-fail-open. GET /healthz and GET /metrics (Prometheus) too.
Registry credentials come from the Docker config, as for pull.
See deploy/ and README.md.`,
		Flags: flagsOf([]cli.Flag{
			&cli.StringFlag{Name: "addr", Value: ":8443", Usage: "listen on `HOST:PORT`", Category: "Server"},
			&cli.StringFlag{Name: "tls-cert-file", Required: true, Usage: "serving certificate `FILE` (PEM, with intermediates; re-read when it changes)", Category: "Server"},
			&cli.StringFlag{Name: "tls-private-key-file", Required: true, Usage: "its private key `FILE` (PEM)", Category: "Server"},
			&cli.BoolFlag{Name: "insecure-fail-open", Usage: "admit, with a warning, pods whose models could not be checked (never ones that were refused)", Category: "Server"},
			&cli.IntFlag{Name: "cache-size", Value: admission.DefaultCacheSize, Usage: "remember up to `N` verified models (by digest)", Category: "Server"},
			&cli.DurationFlag{Name: "cache-ttl", Value: admission.DefaultCacheTTL, Usage: "for `DURATION` each", Category: "Server"},
		}, trustFlags(), registryFlags()),
		Action: func(c *cli.Context) error {
			if _, err := args(c); err != nil {
				return err
			}
			policy, err := needPolicy(c)
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
			checker := admission.NewChecker(policy, registryOptions(c), c.Int("cache-size"), c.Duration("cache-ttl"))
			srv := admission.NewServer(checker, c.Bool("insecure-fail-open"), logger)
			logger.Info("serving", "addr", c.String("addr"), "failOpen", c.Bool("insecure-fail-open"))
			return admission.Serve(c.Context, c.String("addr"), c.String("tls-cert-file"), c.String("tls-private-key-file"), srv.Handler())
		},
	}
}
