//go:build !pkcs11key

package attest

// pkcs11Built: the default build has no PKCS#11 client (it needs cgo).
const pkcs11Built = false
