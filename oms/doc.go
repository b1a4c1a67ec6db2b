// Package oms signs and verifies a model directory's files as OpenSSF Model
// Signing v1.0 bundles (OMS).
//
// An OMS bundle is a Sigstore bundle (v0.3) holding a DSSE envelope over an
// in-toto v1 statement whose predicate (https://model_signing/signature/v1.0)
// lists every file with its digest, and whose subject is the model's root
// digest. The format is the one the OpenSSF reference, `model_signing`,
// writes and reads, so that a directory signed by either verifies with the
// other.
//
// Sign hashes a directory (or a single file) and signs the statement with a
// key; Statement builds the same statement from digests that are already
// known (an OCI raw layer's digest is its file's sha256), so a pushed model
// can be signed without reading its weights again. Verify checks a bundle
// with a trusted public key, a CA certificate chain, or a keyless Sigstore
// identity, then checks the directory against the signed file list.
//
// The canonicalisation follows the spec and the reference together:
//   - names are relative POSIX paths; a single-file model's one resource is
//     named "." as the reference writes it (the spec's file name is accepted
//     on verify too);
//   - .git, .gitignore, .gitattributes and .github at the top level, the
//     signature file, and the ignore paths (exact model-relative paths and
//     their subtrees) are left out, and recorded in serialization.ignore_paths;
//   - symbolic links are refused unless allowed, then their targets are hashed;
//   - resources are sorted by name in code point order (spec section 6.4);
//     verification accepts any order, as the reference does;
//   - "files" (one digest per file) or "shards" (one per byte range) with
//     sha256, blake2b (BLAKE2b-512) or blake3 (256 bits); a shard's algorithm
//     is written "<hash>-sharded-<size>", which the reference requires (the
//     spec's plain "<hash>" is accepted on verify too);
//   - the subject digest is sha256 over the raw resource digests in order.
//
// The library never prints and never reads the environment; files are
// hashed as streams, several at once.
package oms
