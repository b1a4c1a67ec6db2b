package attest

import "strings"

// KMSSchemes are the key URI schemes of the cloud and Vault key services
// sigstore's KMS providers sign with (see LoadKMS).
var KMSSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"}

// IsKMS reports whether ref names a key in a key service.
func IsKMS(ref string) bool {
	for _, s := range KMSSchemes {
		if strings.HasPrefix(ref, s) {
			return true
		}
	}
	return false
}
