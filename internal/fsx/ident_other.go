//go:build !linux && !darwin

package fsx

import "io/fs"

// identityOf is not implemented here: nothing is cached by identity,
// which is always safe.
func identityOf(fs.FileInfo) (Identity, bool) { return Identity{}, false }
