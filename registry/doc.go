// Package registry reaches where artifacts live: remote OCI registries and
// local OCI image layouts. It parses references, opens a Repository with
// credentials (Docker config and credential helpers) and a transport (TLS,
// retries, plain HTTP only on loopback or when asked), and fetches manifests
// and referrers with caps, so callers never see unbounded or unverified
// bytes. It is built on oras-go.
package registry
