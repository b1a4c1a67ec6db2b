// Package sigstoretest is a Sigstore instance in memory for tests: keyless
// bundles and the trusted root that verifies them, offline. (A package of
// its own: sigstore-go's test CA pulls Rekor's types into every test
// binary that imports it.)
package sigstoretest

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
)

// Sigstore is a Sigstore instance in memory (sigstore-go's
// VirtualSigstore): a Fulcio CA, a Rekor log, a timestamp authority and a
// CT log key, for keyless signatures made and verified offline. Its
// certificates carry no SCT.
type Sigstore struct {
	*ca.VirtualSigstore
}

// New starts one.
func New(t testing.TB) *Sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	return &Sigstore{vs}
}

// WithoutCTLogs is s's trusted material with no CT log listed, as a
// private deployment's root may be.
func (s *Sigstore) WithoutCTLogs() root.TrustedMaterial { return noCTLogs{s.VirtualSigstore} }

type noCTLogs struct{ root.TrustedMaterial }

func (noCTLogs) CTLogs() map[string]*root.TransparencyLog { return nil }

// Bundle signs an in-toto statement keyless as identity (an email) vouched
// for by issuer, and returns the Sigstore bundle (v0.3, DSSE) cosign would
// store: the certificate, and as asked a log entry (with its inclusion
// proof) and an RFC 3161 timestamp.
func (s *Sigstore) Bundle(t testing.TB, identity, issuer string, statement []byte, logEntry, timestamp bool) []byte {
	t.Helper()
	// Inside the certificate's ten minutes, as VirtualSigstore.Attest does.
	e, err := s.AttestAtTime(identity, issuer, statement, time.Now().Add(5*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := e.VerificationContent()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := e.SignatureContent()
	if err != nil {
		t.Fatal(err)
	}
	env := sc.(*bundle.Envelope).Envelope
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{
			RawBytes: vc.(*bundle.Certificate).Certificate().Raw,
		}},
		TlogEntries: []*protorekor.TransparencyLogEntry{},
	}
	if logEntry {
		entries, _ := e.TlogEntries()
		for _, le := range entries {
			// VirtualSigstore's entry lacks what Rekor v1 puts in a
			// bundle: the kind and the inclusion promise (a signed
			// entry timestamp).
			tle := le.TransparencyLogEntry()
			tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
			set, err := s.RekorSignPayload(tlog.RekorPayload{
				Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
				IntegratedTime: tle.IntegratedTime,
				LogIndex:       tle.LogIndex,
				LogID:          hex.EncodeToString(tle.LogId.KeyId),
			})
			if err != nil {
				t.Fatal(err)
			}
			tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
			vm.TlogEntries = append(vm.TlogEntries, tle)
		}
	}
	if timestamp {
		tss, _ := e.Timestamps()
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{}
		for _, ts := range tss {
			vm.TimestampVerificationData.Rfc3161Timestamps = append(vm.TimestampVerificationData.Rfc3161Timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
		}
	}
	b := &protobundle.Bundle{
		MediaType:            "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload:     payload,
			PayloadType: env.PayloadType,
			Signatures:  []*protodsse.Signature{{Sig: sig}},
		}},
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TrustedRootJSON is s as a trusted_root.json, with its CT log listed or
// not, for policies and flags that name a file.
func (s *Sigstore) TrustedRootJSON(t testing.TB, withCTLogs bool) []byte {
	t.Helper()
	// VirtualSigstore gives log IDs as the bytes of their hex spelling;
	// a trusted_root.json holds the raw bytes.
	raw := func(logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
		out := map[string]*root.TransparencyLog{}
		for id, l := range logs {
			c := *l
			var err error
			if c.ID, err = hex.DecodeString(id); err != nil {
				t.Fatal(err)
			}
			out[id] = &c
		}
		return out
	}
	var ct map[string]*root.TransparencyLog
	if withCTLogs {
		ct = raw(s.CTLogs())
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, s.FulcioCertificateAuthorities(), ct, s.TimestampingAuthorities(), raw(s.RekorLogs()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
