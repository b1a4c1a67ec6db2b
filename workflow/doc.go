// Package workflow is what vessel does: push a model directory, pull one
// verified and atomically, inspect, sign, attest, verify, copy, export and
// import. It is the one layer that combines artifact (the format), attest
// and oms (signatures and trust), registry (where artifacts live) and
// store (the local content store).
//
// The entry points, each one call:
//
//	Push(ctx, Target, dir, PushOptions)                  -> *PushResult
//	Pull(ctx, PullSource, dest, PullOptions{Policy: p})  -> *PullResult
//	Sign(ctx, Repository, signer)                        -> *SignResult
//	Attest(ctx, Repository, signer, type, predicate)     -> *SignResult
//	Verify(ctx, Source, policy)                          -> *Verification
//	Attestations(ctx, Source, policy, type)              -> *AttestationList
//	Inspect(ctx, Source)                                 -> *Inspection
//	Copy(ctx, src, dst, CopyOptions{Policy: p})          -> *CopyResult
//	Export(ctx, src, file, ExportOptions) / Import(ctx, archive, dst, CopyOptions)
//
// Source, PullSource, Target and Repository are the few methods each
// needs of a registry; *registry.Repository provides them all (a registry
// repository, an OCI layout or an OCI archive). Trust is an attest.Policy,
// passed the same way everywhere: the zero PullOptions and CopyOptions
// trust no one and refuse (ErrNoTrust) unless InsecureSkipVerify says so.
// The verdict is attest.Scope.Decide over what was fetched and checked.
// Every verification failure wraps errdef.ErrVerification.
//
// Library code here never prints: progress goes to an Event callback and
// results come back as values the CLI renders. The examples run offline
// against the embedded registry.
package workflow
