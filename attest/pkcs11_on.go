//go:build pkcs11key

package attest

// pkcs11Built: this build has cosign's cgo PKCS#11 client.
const pkcs11Built = true
