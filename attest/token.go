package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// maxToken caps an identity token (and the answer that carries one).
const maxToken = 64 << 10

// AmbientToken finds the OIDC identity token a CI job has, for audience
// "sigstore": $SIGSTORE_ID_TOKEN (GitLab CI's id_tokens, or any job that
// exports one), else GitHub Actions' token service
// ($ACTIONS_ID_TOKEN_REQUEST_URL and $ACTIONS_ID_TOKEN_REQUEST_TOKEN, set
// when the job has `permissions: id-token: write`).
func AmbientToken(ctx context.Context) (string, error) {
	if t := strings.TrimSpace(os.Getenv("SIGSTORE_ID_TOKEN")); t != "" {
		return t, nil
	}
	reqURL, reqToken := os.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), os.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if reqURL == "" || reqToken == "" {
		return "", fmt.Errorf("%w: %w", ErrIdentityToken, errNoToken)
	}
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fmt.Errorf("%w: ACTIONS_ID_TOKEN_REQUEST_URL: %v", ErrIdentityToken, err)
	}
	q := u.Query()
	q.Set("audience", "sigstore")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrIdentityToken, err)
	}
	req.Header.Set("Authorization", "Bearer "+reqToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: GitHub Actions token service: %v", ErrIdentityToken, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxToken+1))
	if err != nil || resp.StatusCode != http.StatusOK || len(body) > maxToken {
		return "", fmt.Errorf("%w: GitHub Actions token service answered %s (%d bytes, %v)", ErrIdentityToken, resp.Status, len(body), err)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", fmt.Errorf("%w: GitHub Actions token service: no token in its answer (%v)", ErrIdentityToken, err)
	}
	return v.Value, nil
}

// TokenFile reads the token in path each time it is asked (a projected
// Kubernetes service account token is rotated in place).
func TokenFile(path string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrIdentityToken, err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxToken+1))
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrIdentityToken, path, err)
		}
		if len(b) > maxToken {
			return "", fmt.Errorf("%w: %s is over %d bytes", ErrIdentityToken, path, maxToken)
		}
		t := string(bytes.TrimSpace(b))
		if t == "" {
			return "", fmt.Errorf("%w: %s is empty", ErrIdentityToken, path)
		}
		return t, nil
	}
}
