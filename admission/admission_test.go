package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/vessel-oci/vessel/admission"
	"github.com/vessel-oci/vessel/attest"
	"github.com/vessel-oci/vessel/internal/testutil"
	"github.com/vessel-oci/vessel/registry"
	"github.com/vessel-oci/vessel/workflow"
)

func key(t *testing.T) (*attest.KeySigner, attest.TrustedSigner) {
	t.Helper()
	priv, pub, err := attest.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attest.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, attest.TrustedSigner{Name: "release", Key: v}
}

func open(t *testing.T, ref string) *registry.Repository {
	t.Helper()
	r, err := registry.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.Open(context.Background(), r, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// push pushes a small model with content to ref, signed by signer unless
// nil, and returns its digest.
func push(t *testing.T, ref, content string, signer attest.Signer) string {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "model")
	testutil.WriteTree(t, dir, map[string]string{"config.json": `{"model_type":"llama"}`, "model.safetensors": content})
	res, err := workflow.Push(ctx, open(t, ref), dir, workflow.PushOptions{Signed: signer != nil})
	if err != nil {
		t.Fatal(err)
	}
	if signer != nil {
		if _, err := workflow.SignPushed(ctx, open(t, ref), signer, res); err != nil {
			t.Fatal(err)
		}
	}
	return res.Digest.String()
}

func pod(volumes map[string]string, initArgs ...string) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "server", Namespace: "ml"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: "example.com/server:1"}}},
	}
	for name, ref := range volumes {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: ref}}})
	}
	if len(initArgs) > 0 {
		p.Spec.InitContainers = []corev1.Container{{Name: "storage-initializer", Image: "example.com/vessel:1", Args: initArgs}}
	}
	return p
}

// send posts an AdmissionReview of p to path and returns the response.
func send(t *testing.T, url, path string, p *corev1.Pod) *admissionv1.AdmissionResponse {
	t.Helper()
	return sendWithin(t, url, path, "10s", p)
}

// sendWithin is send with the API server's timeout for the review.
func sendWithin(t *testing.T, url, path, timeout string, p *corev1.Pod) *admissionv1.AdmissionResponse {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "4b7e0f2a", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Namespace: p.Namespace, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	}
	body, _ := json.Marshal(review)
	d, err := time.ParseDuration(timeout)
	if err != nil {
		t.Fatal(err)
	}
	// The API server gives up after timeout; this caller allows a margin
	// for a loaded machine, no more.
	client := &http.Client{Timeout: d + 3*time.Second}
	resp, err := client.Post(url+path+"?timeout="+timeout, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s: %s", path, resp.Status, b)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Response == nil || out.Response.UID != "4b7e0f2a" || out.Kind != "AdmissionReview" {
		t.Fatalf("POST %s: not a response to the review: %+v", path, out)
	}
	return out.Response
}

func server(t *testing.T, trusted attest.TrustedSigner, failOpen bool) (*admission.Server, string) {
	s := admission.NewServer(admission.NewChecker(attest.KeyPolicy([]attest.TrustedSigner{trusted}), registry.Options{}, 0, 0), failOpen, nil)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func patchOf(t *testing.T, r *admissionv1.AdmissionResponse) []map[string]string {
	t.Helper()
	if r.Patch == nil {
		return nil
	}
	if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v", r.PatchType)
	}
	var ops []map[string]string
	if err := json.Unmarshal(r.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	return ops
}

func TestReviews(t *testing.T) {
	host := testutil.Registry(t, testutil.Olareg, nil)
	signer, trusted := key(t)
	otherSigner, _ := key(t)
	signed := push(t, host+"/ml/llama:v1", "weights", signer)
	push(t, host+"/ml/unsigned:v1", "weights", nil)
	push(t, host+"/ml/other:v1", "weights", otherSigner)
	_, url := server(t, trusted, false)

	// Signed, by tag: validate admits with a warning about the tag;
	// mutate pins the tag to the digest it verified.
	r := send(t, url, "/validate", pod(map[string]string{"model": host + "/ml/llama:v1"}))
	if !r.Allowed || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], signed) || r.Patch != nil {
		t.Fatalf("validate a signed model by tag: %+v", r)
	}
	r = send(t, url, "/mutate", pod(map[string]string{"model": host + "/ml/llama:v1"}, "oci://"+host+"/ml/llama:v1", "/mnt/models"))
	ops := patchOf(t, r)
	want := []map[string]string{
		{"op": "replace", "path": "/spec/volumes/0/image/reference", "value": host + "/ml/llama@" + signed},
		{"op": "replace", "path": "/spec/initContainers/0/args/0", "value": "oci://" + host + "/ml/llama@" + signed},
	}
	if !r.Allowed || fmt.Sprint(ops) != fmt.Sprint(want) {
		t.Fatalf("mutate a signed model by tag: %+v\npatch %v\nwant  %v", r, ops, want)
	}
	// By digest: nothing to pin, nothing to warn about.
	r = send(t, url, "/mutate", pod(map[string]string{"model": host + "/ml/llama@" + signed}))
	if !r.Allowed || r.Patch != nil || len(r.Warnings) != 0 {
		t.Fatalf("mutate a signed model by digest: %+v", r)
	}

	for _, tc := range []struct{ name, ref, reason string }{
		{"unsigned", host + "/ml/unsigned:v1", "not trusted"},
		{"another signer", host + "/ml/other:v1", "not trusted"},
		{"missing", host + "/ml/none:v1", "not found"},
		{"bad reference", "Not/A/Ref:", "invalid reference"},
	} {
		for _, path := range []string{"/validate", "/mutate"} {
			r := send(t, url, path, pod(map[string]string{"model": host + "/ml/llama:v1", "second": tc.ref}))
			if r.Allowed || r.Result == nil || r.Result.Code != http.StatusForbidden ||
				!strings.Contains(r.Result.Message, `volume "second" `+tc.ref) || !strings.Contains(r.Result.Message, tc.reason) {
				t.Errorf("%s %s: %+v", tc.name, path, r.Result)
			}
		}
	}
	// A storage URI is checked as well.
	r = send(t, url, "/validate", pod(nil, "oci://"+host+"/ml/unsigned:v1", "/mnt/models"))
	if r.Allowed || !strings.Contains(r.Result.Message, `init container "storage-initializer" storage URI`) {
		t.Fatalf("unsigned storage URI: %+v", r.Result)
	}
	// KServe's modelcar: the sidecar's image is the model; a program's
	// image in another container is not vessel's to judge.
	mc := pod(nil)
	mc.Spec.Containers = append(mc.Spec.Containers, corev1.Container{Name: "modelcar", Image: host + "/ml/llama:v1"})
	mc.Spec.InitContainers = []corev1.Container{{Name: "modelcar-init", Image: host + "/ml/unsigned:v1"}}
	r = send(t, url, "/mutate", mc)
	if r.Allowed || !strings.Contains(r.Result.Message, `container "modelcar-init" `+host+"/ml/unsigned:v1") {
		t.Fatalf("unsigned modelcar-init: %+v", r.Result)
	}
	mc.Spec.InitContainers[0].Image = host + "/ml/llama:v1"
	r = send(t, url, "/mutate", mc)
	want = []map[string]string{
		{"op": "replace", "path": "/spec/initContainers/0/image", "value": host + "/ml/llama@" + signed},
		{"op": "replace", "path": "/spec/containers/1/image", "value": host + "/ml/llama@" + signed},
	}
	if ops := patchOf(t, r); !r.Allowed || fmt.Sprint(ops) != fmt.Sprint(want) {
		t.Fatalf("signed modelcar: %+v\npatch %v\nwant  %v", r, ops, want)
	}

	// A pod with no models is none of vessel's business.
	if r := send(t, url, "/validate", pod(nil)); !r.Allowed || len(r.Warnings) != 0 {
		t.Fatalf("pod without models: %+v", r)
	}
	// The signed model was verified once and then taken from the cache
	// (its tag looked up each time); refusals are never cached.
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`vessel_admission_checks_total{result="verified"} 1`, `vessel_admission_checks_total{result="refused"} 10`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
}

// A registry that cannot be reached: denied (fail closed), or admitted
// with a warning when the webhook is told to fail open. A refusal is
// never admitted.
func TestFailClosedAndOpen(t *testing.T) {
	host := testutil.Registry(t, testutil.Olareg, nil)
	_, trusted := key(t)
	push(t, host+"/ml/unsigned:v1", "weights", nil)
	gone := httptest.NewServer(http.NotFoundHandler())
	down := strings.TrimPrefix(gone.URL, "http://") + "/ml/llama:v1"
	gone.Close()

	_, closed := server(t, trusted, false)
	r := send(t, closed, "/validate", pod(map[string]string{"model": down}))
	if r.Allowed || !strings.Contains(r.Result.Message, "could not be checked") {
		t.Fatalf("unreachable registry, fail closed: %+v", r.Result)
	}
	s, open := server(t, trusted, true)
	r = send(t, open, "/validate", pod(map[string]string{"model": down}))
	if !r.Allowed || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "fails open") {
		t.Fatalf("unreachable registry, fail open: %+v", r)
	}
	if r := send(t, open, "/validate", pod(map[string]string{"model": host + "/ml/unsigned:v1"})); r.Allowed {
		t.Fatal("fail open admitted an unsigned model")
	}

	// Health and metrics.
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/metrics": `vessel_admission_checks_total{result="error"} 1`,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s\n%s", path, resp.Status, b)
		}
	}
}

// Malformed reviews get HTTP errors, not an admission.
func TestBadReviews(t *testing.T) {
	_, trusted := key(t)
	_, url := server(t, trusted, false)
	for _, tc := range []struct {
		name, ct, body string
		want           int
	}{
		{"not JSON", "application/json", "{", http.StatusBadRequest},
		{"no request", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"wrong type", "text/plain", "{}", http.StatusUnsupportedMediaType},
		{"too large", "application/json", `{"x":"` + strings.Repeat("a", admission.MaxReviewSize) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		resp, err := http.Post(url+"/validate", tc.ct, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.want)
		}
	}
}

func TestPin(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for in, want := range map[string]string{
		"reg.example/ml/llama:v1":         "reg.example/ml/llama@" + d,
		"reg.example:5000/ml/llama":       "reg.example:5000/ml/llama@" + d,
		"reg.example:5000/ml/llama:v1":    "reg.example:5000/ml/llama@" + d,
		"llama:v1@" + d:                   "llama@" + d,
		"reg.example/ml/llama@" + d:       "reg.example/ml/llama@" + d,
		"127.0.0.1:5000/ml/llama:v1.0-rc": "127.0.0.1:5000/ml/llama@" + d,
	} {
		if got := admission.Pin(in, d); got != want {
			t.Errorf("Pin(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseImageReference(t *testing.T) {
	for in, want := range map[string]string{
		"llama":                      "index.docker.io/library/llama:latest",
		"org/llama:v1":               "index.docker.io/org/llama:v1",
		"ghcr.io/org/llama:v1":       "ghcr.io/org/llama:v1",
		"127.0.0.1:5000/ml/llama":    "127.0.0.1:5000/ml/llama:latest",
		"localhost:5000/ml/llama:v1": "localhost:5000/ml/llama:v1",
		"reg.example/m:v1@sha256:" + strings.Repeat("ab", 32): "reg.example/m@sha256:" + strings.Repeat("ab", 32),
	} {
		r, err := admission.ParseImageReference(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseImageReference(%q) = %q, %v; want %q", in, r.String(), err, want)
		}
	}
	for _, in := range []string{"oci://reg.example/m:v1", "Reg/M", "reg.example/m@sha256:abc", ""} {
		if r, err := admission.ParseImageReference(in); err == nil {
			t.Errorf("ParseImageReference(%q) = %q, want an error", in, r.String())
		}
	}
}

// Reviews share one client per registry: their requests come over the
// connections the first one opened, not a new one (and a new token) each.
func TestReviewsReuseConnections(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			conns[r.RemoteAddr] = true
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	signer, trusted := key(t)
	push(t, host+"/ml/llama:v1", "weights", signer)
	mu.Lock()
	clear(conns)
	mu.Unlock()
	_, url := server(t, trusted, false)
	for range 8 {
		if r := send(t, url, "/validate", pod(map[string]string{"model": host + "/ml/llama:v1"})); !r.Allowed {
			t.Fatalf("%+v", r.Result)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) > 2 {
		t.Fatalf("8 reviews opened %d connections to the registry", len(conns))
	}
}

// A registry that does not answer within the API server's timeout (?timeout=
// on the review): the webhook answers before it, denying (it fails
// closed), rather than leaving the API server to give up on its own.
func TestReviewWithinTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	host := testutil.Registry(t, testutil.Olareg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	_, trusted := key(t)
	_, url := server(t, trusted, false)
	r := sendWithin(t, url, "/validate", "1s", pod(map[string]string{"model": host + "/ml/llama:v1"}))
	if r.Allowed || !strings.Contains(r.Result.Message, "could not be checked") || !strings.Contains(r.Result.Message, "deadline") {
		t.Fatalf("a registry that does not answer: %+v", r.Result)
	}
}
