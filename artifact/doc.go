// Package artifact knows the CNCF ModelPack format: it turns a model directory
// into layer descriptors, a config and a manifest (pack), and turns a fetched
// manifest back into a validated plan of files that can be written safely
// into a staging directory (plan, unpack).
//
// It never talks to a registry: callers hand it bytes and readers. Every path,
// size and count that comes from a manifest is checked here before use.
package artifact
