// Package attest signs and verifies statements about an artifact: in-toto
// v1 statements in DSSE envelopes inside Sigstore bundles (the format
// current cosign writes), cosign's classic simple-signing signatures, the
// keys that make them, and the trust policy that says whose signatures
// count. It knows OCI descriptors and digests, never registries: callers
// hand it bytes they fetched.
package attest
