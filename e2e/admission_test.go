//go:build e2e

package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// kubeAPI talks to a kube-apiserver as its administrator, with plain
// HTTP and JSON: what kubectl sends.
type kubeAPI struct {
	base, token string
	client      *http.Client
}

func (k *kubeAPI) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, k.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (k *kubeAPI) create(t *testing.T, path string, body any) {
	t.Helper()
	if code, out := k.do(t, "POST", path, body); code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", path, code, out)
	}
}

// writeKeyPair writes a P-256 key and a certificate for it, issued by
// parent (self-signed when nil), and returns them.
func writeKeyPair(t *testing.T, dir, name string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	ppWriteFile(t, filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	ppWriteFile(t, filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	return cert, key
}

// startKubeAPIServer starts etcd and a kube-apiserver on loopback and
// returns a client for it once it is ready. No kubelet, no controllers:
// admission needs neither.
func startKubeAPIServer(t *testing.T, dir string) *kubeAPI {
	t.Helper()
	etcdBin, err := toolPath("etcd")
	if err != nil {
		t.Fatal(err)
	}
	apiBin, err := toolPath("kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	client, peer, secure := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	if _, err := startProcess(t, "etcd", etcdBin, []string{
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default=" + peerURL,
	}, nil); err != nil {
		t.Fatal(err)
	}
	waitTCP(t, strings.TrimPrefix(etcdURL, "http://"))

	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	saDER, _ := x509.MarshalECPrivateKey(sa)
	saKey := filepath.Join(dir, "sa.key")
	ppWriteFile(t, saKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}))
	token := "vessel-e2e-admin"
	tokens := filepath.Join(dir, "tokens.csv")
	ppWriteFile(t, tokens, []byte(token+`,admin,admin,"system:masters"`+"\n"))
	certDir := filepath.Join(dir, "apiserver-certs")
	if _, err := startProcess(t, "kube-apiserver", apiBin, []string{
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(secure), "--cert-dir", certDir,
		"--endpoint-reconciler-type", "none",
		"--token-auth-file", tokens, "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", saKey, "--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.96.0.0/24",
	}, nil); err != nil {
		t.Fatal(err)
	}
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", secure))
	// Its serving certificate is self-signed, made at start in certDir.
	pemCerts, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCerts) {
		t.Fatal("no certificate in the API server's apiserver.crt")
	}
	k := &kubeAPI{
		base:   fmt.Sprintf("https://127.0.0.1:%d", secure),
		token:  token,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, out := k.do(t, "GET", "/readyz", nil)
		if code == http.StatusOK {
			return k
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready after 90s: %d %s", code, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// modelPod is a pod that mounts ref as an image volume (and, if
// storageURI is set, has KServe's storage initializer fetch it).
func modelPod(name, ref, storageURI string) map[string]any {
	spec := map[string]any{
		"containers": []any{map[string]any{
			"name": "server", "image": "registry.example/server:1",
			"volumeMounts": []any{map[string]any{"name": "model", "mountPath": "/models"}},
		}},
	}
	if ref != "" {
		spec["volumes"] = []any{map[string]any{"name": "model", "image": map[string]any{"reference": ref, "pullPolicy": "IfNotPresent"}}}
	} else {
		spec["volumes"] = []any{map[string]any{"name": "model", "emptyDir": map[string]any{}}}
	}
	if storageURI != "" {
		spec["initContainers"] = []any{map[string]any{
			"name": "storage-initializer", "image": "registry.example/vessel:1",
			"args":         []any{storageURI, "/mnt/models"},
			"volumeMounts": []any{map[string]any{"name": "model", "mountPath": "/mnt/models"}},
		}}
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name}, "spec": spec}
}

// webhookConfig registers vessel admission for pods in namespace ns.
func webhookConfig(kind, name, url string, caPEM []byte) map[string]any {
	return map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
		"metadata": map[string]any{"name": name},
		"webhooks": []any{map[string]any{
			"name":                    name,
			"clientConfig":            map[string]any{"url": url, "caBundle": base64.StdEncoding.EncodeToString(caPEM)},
			"rules":                   []any{map[string]any{"operations": []any{"CREATE"}, "apiGroups": []any{""}, "apiVersions": []any{"v1"}, "resources": []any{"pods"}}},
			"namespaceSelector":       map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "ml"}},
			"failurePolicy":           "Fail",
			"sideEffects":             "None",
			"admissionReviewVersions": []any{"v1"},
			"timeoutSeconds":          15,
		}},
	}
}

// The admission webhook against a real kube-apiserver: pods that mount
// signed models are admitted with their tags pinned to the verified
// digest; unsigned, tampered (signed by another key) and tag-moved ones
// are denied by the API server with vessel's reason; with the webhook
// gone, pods are refused (fail closed).
func TestAdmissionWebhook(t *testing.T) {
	if !inPrivateNetwork(t) {
		return
	}
	dir := t.TempDir()
	api := startKubeAPIServer(t, dir)

	keys := t.TempDir()
	releaseKey, releasePub := keygen(t, keys, "release")
	otherKey, _ := keygen(t, keys, "other")
	r := startVesselRegistry(t)
	signed := pushSample(t, r.Ref("ml/llama:v1"), "--key", releaseKey)
	pushSample(t, r.Ref("ml/unsigned:v1"))
	pushSample(t, r.Ref("ml/tampered:v1"), "--key", otherKey)
	policy := filepath.Join(dir, "policy.yaml")
	ppWriteFile(t, policy, []byte("version: 1\nscopes:\n  - scope: \"**\"\n    signers: [{name: release, key: "+releasePub+"}]\n"))

	// The webhook's serving certificate, from a CA the API server is
	// told to trust (caBundle).
	notBefore := time.Now().Add(-time.Hour)
	ca, caKey := writeKeyPair(t, dir, "ca", &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vessel-e2e-ca"},
		NotBefore: notBefore, NotAfter: notBefore.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	writeKeyPair(t, dir, "webhook", &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vessel-admission"},
		NotBefore: notBefore, NotAfter: notBefore.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}, ca, caKey)
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	webhook, err := startProcess(t, "vessel admission", vesselBin, []string{
		"admission", "--addr", addr,
		"--tls-cert-file", filepath.Join(dir, "webhook.crt"), "--tls-private-key-file", filepath.Join(dir, "webhook.key"),
		"--policy", policy,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitTCP(t, addr)

	api.create(t, "/api/v1/namespaces", map[string]any{"metadata": map[string]any{"name": "ml"}})
	// No controller manager makes it: pods need their service account.
	api.create(t, "/api/v1/namespaces/ml/serviceaccounts", map[string]any{"metadata": map[string]any{"name": "default"}})
	api.create(t, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
		webhookConfig("MutatingWebhookConfiguration", "pin.test.vessel.dev", "https://"+addr+"/mutate", caPEM))
	api.create(t, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
		webhookConfig("ValidatingWebhookConfiguration", "verify.test.vessel.dev", "https://"+addr+"/validate", caPEM))

	pods := "/api/v1/namespaces/ml/pods"
	// The API server takes the configurations up within a moment: a
	// dry run shows when.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out := api.do(t, "POST", pods+"?dryRun=All", modelPod("probe", r.Ref("ml/unsigned:v1"), ""))
		if code == http.StatusForbidden && strings.Contains(string(out), "vessel:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhooks did not take effect in 30s: %d %s", code, out)
		}
		time.Sleep(300 * time.Millisecond)
	}

	type pod struct {
		Spec struct {
			Volumes []struct {
				Image *struct {
					Reference string `json:"reference"`
				} `json:"image"`
			} `json:"volumes"`
			InitContainers []struct {
				Args []string `json:"args"`
			} `json:"initContainers"`
		} `json:"spec"`
	}
	admitted := func(name string, body map[string]any) pod {
		t.Helper()
		code, out := api.do(t, "POST", pods, body)
		if code != http.StatusCreated {
			t.Fatalf("pod %s: %d %s", name, code, out)
		}
		var p pod
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	denied := func(name string, body map[string]any, why ...string) {
		t.Helper()
		code, out := api.do(t, "POST", pods, body)
		if code == http.StatusCreated {
			t.Fatalf("pod %s admitted: %s", name, out)
		}
		var status struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(out, &status)
		t.Logf("pod %s: %d %s", name, code, status.Message)
		for _, w := range why {
			if !strings.Contains(status.Message, w) {
				t.Errorf("pod %s: %d %q, want it to say %q", name, code, status.Message, w)
			}
		}
	}

	pinned := r.Ref("ml/llama@" + signed)
	p := admitted("signed", modelPod("signed", r.Ref("ml/llama:v1"), ""))
	if got := p.Spec.Volumes[0].Image.Reference; got != pinned {
		t.Fatalf("the admitted pod mounts %s, want the verified digest %s", got, pinned)
	}
	p = admitted("kserve", modelPod("kserve", "", "oci://"+r.Ref("ml/llama:v1")))
	if got := p.Spec.InitContainers[0].Args[0]; got != "oci://"+pinned {
		t.Fatalf("the storage initializer fetches %s, want oci://%s", got, pinned)
	}
	admitted("by-digest", modelPod("by-digest", pinned, ""))

	denied("unsigned", modelPod("unsigned", r.Ref("ml/unsigned:v1"), ""), `volume "model" `+r.Ref("ml/unsigned:v1"), "not trusted")
	denied("tampered", modelPod("tampered", r.Ref("ml/tampered:v1"), ""), r.Ref("ml/tampered:v1"), "not trusted")
	denied("kserve-unsigned", modelPod("kserve-unsigned", "", "oci://"+r.Ref("ml/unsigned:v1")), "storage-initializer", "not trusted")

	// The tag moves to a model nobody trusted: new pods are refused, the
	// admitted one still names what was verified.
	pushSample(t, r.Ref("ml/llama:v1"), "--annotation", "org.example.moved=yes")
	denied("moved", modelPod("moved", r.Ref("ml/llama:v1"), ""), r.Ref("ml/llama:v1"), "not trusted")
	code, out := api.do(t, "GET", pods+"/signed", nil)
	if code != http.StatusOK || !strings.Contains(string(out), pinned) {
		t.Fatalf("the admitted pod: %d %s", code, out)
	}

	// Its verdicts were counted.
	metrics := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: poolOf(t, caPEM)}}}
	resp, err := metrics.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `vessel_admission_reviews_total{answer="denied",endpoint="mutate"}`) {
		t.Errorf("metrics lack the denials:\n%s", body)
	}

	// Without the webhook, nothing is admitted (failurePolicy: Fail).
	webhook.stop(t)
	denied("webhook-down", modelPod("webhook-down", pinned, ""), "failed calling webhook")

	applyDeployManifests(t, api)
}

// kubePaths are where the API server takes the kinds deploy/ uses;
// "NS" stands for the namespace.
var kubePaths = map[string]string{
	"v1/Namespace":       "/api/v1/namespaces",
	"v1/ServiceAccount":  "/api/v1/namespaces/NS/serviceaccounts",
	"v1/ConfigMap":       "/api/v1/namespaces/NS/configmaps",
	"v1/Service":         "/api/v1/namespaces/NS/services",
	"apps/v1/Deployment": "/apis/apps/v1/namespaces/NS/deployments",
	"admissionregistration.k8s.io/v1/MutatingWebhookConfiguration":   "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
	"admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
}

// applyDeployManifests has the API server check every object in deploy/
// (a server-side dry run; namespaces are created), as kubectl apply would
// send them. KServe's kinds need KServe's CRDs, which this API server
// does not have: they are only parsed.
func applyDeployManifests(t *testing.T, api *kubeAPI) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("deploy/*.yaml: %v", err)
	}
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(data), "\n---\n") {
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s, document %d: %v", f, i+1, err)
			}
			var obj struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(js, &obj); err != nil || obj.Kind == "" {
				t.Fatalf("%s, document %d: not a Kubernetes object (%v)", f, i+1, err)
			}
			if strings.HasPrefix(obj.APIVersion, "serving.kserve.io/") {
				continue
			}
			path, ok := kubePaths[obj.APIVersion+"/"+obj.Kind]
			if !ok {
				t.Fatalf("%s: %s %s: no API path known to this test", f, obj.APIVersion, obj.Kind)
			}
			ns := obj.Metadata.Namespace
			if ns == "" {
				ns = "ml"
			}
			path = strings.Replace(path, "NS", ns, 1)
			if obj.Kind != "Namespace" {
				path += "?dryRun=All&fieldValidation=Strict"
			}
			var body map[string]any
			_ = json.Unmarshal(js, &body)
			if code, out := api.do(t, "POST", path, body); code != http.StatusCreated {
				t.Errorf("%s: %s %s refused by the API server: %d %s", filepath.Base(f), obj.APIVersion, obj.Kind, code, out)
				continue
			}
			checked++
		}
	}
	t.Logf("deploy/: %d objects accepted by the API server", checked)
}

func poolOf(t *testing.T, pemCerts []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCerts) {
		t.Fatal("no certificate")
	}
	return pool
}
