//go:build e2e

package e2e

// A private Sigstore for keyless signing offline: a small OIDC issuer the
// test runs (discovery, keys, tokens), Fulcio with an ephemeral CA
// trusting it, and the timestamp authority with an in-memory signer, each
// the real server built by hack/install-tools.sh (fulcio, tsa), on
// 127.0.0.1 inside the test's own network namespace (inPrivateNetwork).

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// sigstore is a running private Sigstore.
type sigstore struct {
	issuer        *oidcIssuer
	fulcioURL     string
	tsaURL        string // the timestamping endpoint, .../api/v1/timestamp
	trustedRoot   string // trusted_root.json: Fulcio's CA and the TSA, no logs
	signingConfig string // cosign's signing config naming them (v0.2)
	tsa           *root.SigstoreTimestampingAuthority
}

// oidcIssuer serves OpenID discovery and its signing key, and mints
// ID tokens for email identities, as an identity provider would.
type oidcIssuer struct {
	URL string
	key *rsa.PrivateKey
}

func startOIDCIssuer(t *testing.T) *oidcIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &oidcIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/keys",
			"authorization_endpoint":                iss.URL + "/auth",
			"token_endpoint":                        iss.URL + "/token",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "test", Algorithm: "RS256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss
}

// token is an ID token for email, audience "sigstore", valid ten minutes.
func (i *oidcIssuer) token(t *testing.T, email string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: i.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "test"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: i.URL, Subject: email, Audience: jwt.Audience{"sigstore"},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)),
	}).Claims(map[string]any{"email": email, "email_verified": true}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startSigstore starts the OIDC issuer, Fulcio and the TSA, and writes the
// trusted root a verifier needs.
func startSigstore(t *testing.T) *sigstore {
	t.Helper()
	fulcioBin, err := toolPath("fulcio")
	if err != nil {
		t.Fatalf("this test needs Fulcio: %v", err)
	}
	tsaBin, err := toolPath("tsa")
	if err != nil {
		t.Fatalf("this test needs the timestamp authority: %v", err)
	}
	dir := t.TempDir()
	iss := startOIDCIssuer(t)
	cfg := filepath.Join(dir, "fulcio.json")
	doc, _ := json.Marshal(map[string]any{"OIDCIssuers": map[string]any{iss.URL: map[string]string{"IssuerURL": iss.URL, "ClientID": "sigstore", "Type": "email"}}})
	if err := os.WriteFile(cfg, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	fport, gport, mport := freePort(t), freePort(t), freePort(t)
	if _, err := startProcess(t, "fulcio", fulcioBin, []string{"serve", "--ca", "ephemeralca", "--ct-log-url", "", "--config-path", cfg,
		"--host", "127.0.0.1", "--port", fmt.Sprint(fport), "--grpc-host", "127.0.0.1", "--grpc-port", fmt.Sprint(gport),
		"--metrics-port", fmt.Sprint(mport), "--legacy-unix-domain-socket", filepath.Join(dir, "fulcio-legacy.sock")}, nil); err != nil {
		t.Fatal(err)
	}
	tport := freePort(t)
	if _, err := startProcess(t, "timestamp-server", tsaBin, []string{"serve", "--host", "127.0.0.1", "--port", fmt.Sprint(tport),
		"--timestamp-signer", "memory", "--disable-ntp-monitoring"}, nil); err != nil {
		t.Fatal(err)
	}
	s := &sigstore{
		issuer:    iss,
		fulcioURL: fmt.Sprintf("http://127.0.0.1:%d", fport),
		tsaURL:    fmt.Sprintf("http://127.0.0.1:%d/api/v1/timestamp", tport),
	}
	fulcioChain := fetchPEMChain(t, s.fulcioURL+"/api/v1/rootCert")
	tsaChain := fetchPEMChain(t, s.tsaURL+"/certchain")
	since := time.Now().Add(-time.Hour)
	ca := &root.FulcioCertificateAuthority{Root: fulcioChain[len(fulcioChain)-1], Intermediates: fulcioChain[:len(fulcioChain)-1], ValidityPeriodStart: since, URI: s.fulcioURL}
	tsa := &root.SigstoreTimestampingAuthority{Root: tsaChain[len(tsaChain)-1], Intermediates: tsaChain[1 : len(tsaChain)-1], Leaf: tsaChain[0], ValidityPeriodStart: since, URI: s.tsaURL}
	s.tsa = tsa
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{ca}, nil, []root.TimestampingAuthority{tsa}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	s.trustedRoot = filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(s.trustedRoot, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// What `cosign signing-config create` writes for these services.
	svc := func(url string) *prototrustroot.Service {
		return &prototrustroot.Service{Url: url, MajorApiVersion: 1, ValidFor: &protocommon.TimeRange{Start: timestamppb.New(since)}}
	}
	sc, err := protojson.Marshal(&prototrustroot.SigningConfig{
		MediaType:       "application/vnd.dev.sigstore.signingconfig.v0.2+json",
		CaUrls:          []*prototrustroot.Service{svc(s.fulcioURL)},
		OidcUrls:        []*prototrustroot.Service{svc(iss.URL)},
		TsaUrls:         []*prototrustroot.Service{svc(s.tsaURL)},
		TsaConfig:       &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
		RekorTlogConfig: &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.signingConfig = filepath.Join(dir, "signing_config.json")
	if err := os.WriteFile(s.signingConfig, sc, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// fetchPEMChain GETs a PEM certificate chain (leaf first), retrying while
// the server starts.
func fetchPEMChain(t *testing.T, url string) []*x509.Certificate {
	t.Helper()
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			lastErr = err
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			lastErr = fmt.Errorf("%s: %s", resp.Status, body)
			continue
		}
		certs, err := cryptoutils.UnmarshalCertificatesFromPEM(body)
		if err != nil || len(certs) == 0 {
			t.Fatalf("GET %s: not a PEM chain (%v):\n%s", url, err, body)
		}
		return certs
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return nil
}
