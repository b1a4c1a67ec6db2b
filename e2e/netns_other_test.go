//go:build e2e && !linux

package e2e

import "testing"

// inPrivateNetwork: only Linux has network namespaces; elsewhere (a
// developer's Mac) the services run on the host's loopback, their metrics
// listeners on ports of their own.
func inPrivateNetwork(t *testing.T) bool {
	t.Helper()
	return true
}
