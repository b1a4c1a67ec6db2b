//go:build image

package main

// The container image has no /etc/ssl: Mozilla's roots, built in, are used
// where the system has none (and only then).
import _ "golang.org/x/crypto/x509roots/fallback"
