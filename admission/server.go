package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxReviewSize caps an AdmissionReview body: the API server refuses
// objects over 3 MiB itself (etcd's request limit), and a review carries
// the object and, on updates, its old version.
const MaxReviewSize = 8 << 20

// DefaultTimeout bounds a review whose request names no timeout (the API
// server appends ?timeout=, 10s by default).
const DefaultTimeout = 10 * time.Second

// Server answers the API server's admission reviews for pods.
type Server struct {
	Checker *Checker
	// FailOpen admits a pod whose models could not be checked (a
	// registry down, a timeout), with a warning. Refusals are never
	// admitted.
	FailOpen bool
	Logger   *slog.Logger

	reviews *prometheus.CounterVec
	checks  *prometheus.CounterVec
	seconds prometheus.Histogram
	metrics *prometheus.Registry
}

// NewServer returns a server that checks with c.
func NewServer(c *Checker, failOpen bool, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{Checker: c, FailOpen: failOpen, Logger: logger, metrics: prometheus.NewRegistry()}
	s.reviews = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vessel_admission_reviews_total", Help: "Admission reviews answered, by endpoint and answer.",
	}, []string{"endpoint", "answer"})
	s.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vessel_admission_checks_total", Help: "Model references checked, by result (verified, cached, refused, error).",
	}, []string{"result"})
	s.seconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vessel_admission_check_seconds", Help: "Time to check one model reference.", Buckets: prometheus.DefBuckets,
	})
	s.metrics.MustRegister(s.reviews, s.checks, s.seconds)
	return s
}

// Handler serves POST /validate, POST /mutate, GET /healthz and
// GET /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /validate", func(w http.ResponseWriter, r *http.Request) { s.serveReview(w, r, false) })
	mux.HandleFunc("POST /mutate", func(w http.ResponseWriter, r *http.Request) { s.serveReview(w, r, true) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	return mux
}

func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, mutate bool) {
	endpoint := "validate"
	if mutate {
		endpoint = "mutate"
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		http.Error(w, fmt.Sprintf("want an AdmissionReview as application/json, got %q", ct), http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxReviewSize))
	if err != nil {
		code := http.StatusBadRequest
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			code = http.StatusRequestEntityTooLarge
		}
		http.Error(w, fmt.Sprintf("read AdmissionReview: %v", err), code)
		return
	}
	var review admissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "want an admission.k8s.io/v1 AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	timeout := DefaultTimeout
	if d, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && d > 0 {
		timeout = d
	}
	// Answer before the API server gives up, so it hears our reason
	// rather than its own timeout.
	ctx, cancel := context.WithTimeout(r.Context(), timeout*9/10)
	defer cancel()
	resp := s.review(ctx, review.Request, mutate)
	resp.UID = review.Request.UID
	answer := "allowed"
	if !resp.Allowed {
		answer = "denied"
	}
	s.reviews.WithLabelValues(endpoint, answer).Inc()
	// The response's apiVersion and kind are the request's (v1 only).
	out := admissionReview{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Response: resp}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// review decides one request: every model the pod names must verify.
func (s *Server) review(ctx context.Context, req *admissionRequest, mutate bool) *admissionResponse {
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" {
		// Registered for pods only; anything else is not ours to judge.
		return &admissionResponse{Allowed: true}
	}
	var pod Pod
	if err := json.Unmarshal(req.Object, &pod); err != nil {
		return deny(fmt.Sprintf("vessel: the pod in the review is not a Pod: %v", err))
	}
	name := pod.Metadata.Name
	if name == "" {
		name = pod.Metadata.GenerateName + "*"
	}
	var patch []patchOp
	var warnings []string
	for _, t := range Targets(&pod) {
		start := time.Now()
		v, err := s.Checker.Check(ctx, t.Ref)
		s.seconds.Observe(time.Since(start).Seconds())
		switch {
		case errors.Is(err, ErrRefused):
			s.checks.WithLabelValues("refused").Inc()
			s.Logger.Info("denied", "namespace", req.Namespace, "pod", name, "target", t.Where, "reference", t.Ref, "reason", err)
			return deny(fmt.Sprintf("vessel: pod %s/%s: %s %s: %v", req.Namespace, name, t.Where, t.Ref, err))
		case err != nil:
			s.checks.WithLabelValues("error").Inc()
			msg := fmt.Sprintf("vessel: pod %s/%s: %s %s: could not be checked: %v", req.Namespace, name, t.Where, t.Ref, err)
			if !s.FailOpen {
				s.Logger.Warn("denied: not checked", "namespace", req.Namespace, "pod", name, "target", t.Where, "reference", t.Ref, "error", err)
				return deny(msg)
			}
			s.Logger.Warn("admitted unchecked (fail-open)", "namespace", req.Namespace, "pod", name, "target", t.Where, "reference", t.Ref, "error", err)
			warnings = append(warnings, msg+" (admitted: the webhook fails open)")
			continue
		case v.Cached:
			s.checks.WithLabelValues("cached").Inc()
		default:
			s.checks.WithLabelValues("verified").Inc()
		}
		s.Logger.Info("verified", "namespace", req.Namespace, "pod", name, "target", t.Where, "reference", t.Ref, "digest", v.Digest, "signers", v.Signers)
		pinned := Pin(t.Ref, v.Digest)
		switch {
		case mutate && pinned != t.Ref:
			patch = append(patch, patchOp{Op: "replace", Path: t.Path, Value: t.Scheme + pinned})
		case !mutate && pinned != t.Ref:
			warnings = append(warnings, fmt.Sprintf("vessel: %s %s verified at %s; the kubelet pulls the tag again, which may have moved: name the digest, or let vessel's mutating webhook pin it", t.Where, t.Ref, v.Digest))
		}
	}
	resp := &admissionResponse{Allowed: true, Warnings: warnings}
	if len(patch) > 0 {
		b, err := json.Marshal(patch)
		if err != nil {
			return deny(fmt.Sprintf("vessel: JSONPatch: %v", err))
		}
		resp.Patch, resp.PatchType = b, "JSONPatch"
	}
	return resp
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

func deny(msg string) *admissionResponse {
	return &admissionResponse{Allowed: false, Result: &status{
		Status: "Failure", Code: http.StatusForbidden, Reason: "Forbidden", Message: msg,
	}}
}
