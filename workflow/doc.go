// Package workflow is what vessel does: push a model directory, pull one
// verified and atomically, inspect, sign, attest, verify, copy, export and
// import. It is the one layer that combines artifact (the format), attest
// and oms (signatures and trust), registry (where artifacts live) and
// store (the local content store).
//
// Library code here never prints: progress goes to an Event callback and
// results come back as values the CLI renders.
package workflow
