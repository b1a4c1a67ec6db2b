// Package workflow is what vessel does: push a model directory, pull one
// verified and atomically, inspect one. It combines artifact (the format)
// with registry (where artifacts live); later signing and attestation join
// here too, and nowhere else.
//
// Library code here never prints: progress goes to an Event callback and
// results come back as values the CLI renders.
package workflow
