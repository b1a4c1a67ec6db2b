//go:build e2e

package e2e

import (
	"crypto/x509"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/vessel-oci/vessel/internal/testutil"
)

// A keyless certificate lives minutes; a signature made with it must
// verify after it expired, and only with proof of when it was made. The
// certificate here is shaped like Fulcio's, from a CA the trusted root
// lists as its certificate authority, and lives certLife (room to sign on
// a busy CI machine), so the test can wait for its expiry (Fulcio's own
// live ten minutes). vessel signs
// without a timestamp; cosign v3 signs with one from the real timestamp
// authority. Once the certificate has expired, both tools (vessel, cosign
// v3.1.3 and v2.6.5) refuse the first and accept the second.
func TestExpiredKeylessCertificate(t *testing.T) {
	t.Parallel()
	requireCosign(t)
	if !inPrivateNetwork(t) {
		return
	}
	const certLife = 40 * time.Second
	ss := startSigstore(t)
	ca := testutil.NewCA(t, "Short-lived Fulcio")
	const who = "ci@example.com"
	s := ca.KeylessCert(t, who, ss.issuer.URL, time.Now().Add(certLife))
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{&root.FulcioCertificateAuthority{
		Root: ca.Root, Intermediates: []*x509.Certificate{ca.Intermediate}, ValidityPeriodStart: time.Now().Add(-2 * time.Hour),
	}}, nil, []root.TimestampingAuthority{ss.tsa}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tr.MarshalJSON()
	trustedRoot := filepath.Join(t.TempDir(), "trusted_root.json")
	ppWriteFile(t, trustedRoot, b)
	tsaOnly, _ := json.Marshal(map[string]any{
		"mediaType":       "application/vnd.dev.sigstore.signingconfig.v0.2+json",
		"tsaUrls":         []map[string]any{{"url": ss.tsaURL, "majorApiVersion": 1, "validFor": map[string]string{"start": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}}},
		"tsaConfig":       map[string]string{"selector": "ANY"},
		"rekorTlogConfig": map[string]any{},
	})
	signingConfig := filepath.Join(t.TempDir(), "signing_config.json")
	ppWriteFile(t, signingConfig, tsaOnly)
	imported := filepath.Join(t.TempDir(), "imported")
	if _, stderr, code := cosignReleases[0].run(t, "import-key-pair", "--key", s.Key, "--output-key-prefix", imported); code != 0 {
		t.Fatalf("cosign import-key-pair: %s", stderr)
	}

	r := startVesselRegistry(t)
	bare := r.Ref("expired/m@" + pushSample(t, r.Ref("expired/m:bare"), "--key", s.Key, "--certificate", s.Cert, "--certificate-chain", s.Chain))
	model := t.TempDir()
	ppCopyTree(t, ppSampleModel(), model)
	ppWriteFile(t, filepath.Join(model, "NOTICE"), []byte("timestamped\n"))
	stamped := r.Ref("expired/m@" + pushModelPlain(t, model, r.Ref("expired/m:stamped")))
	// No --certificate-chain: cosign v3.1.3 then writes a v0.3 bundle
	// with the chain, which its own verify skips as invalid (v0.3 holds
	// one certificate); the trusted root has the intermediate.
	if _, stderr, code := cosignReleases[0].run(t, "sign", "--yes", "--allow-http-registry", "--key", imported+".key", "--certificate", s.Cert,
		"--signing-config", signingConfig, stamped); code != 0 {
		t.Fatalf("cosign v3 sign with the certificate and a timestamp: %s", stderr)
	}
	// With --use-signed-timestamps cosign asks for a timestamp; without it
	// cosign checks the certificate at the present time.
	cosignArgs := func(ref string) []string {
		return append(append([]string{"verify"}, keylessVerifyAgainst(ss, who, trustedRoot)...), ref)
	}
	cosignBareArgs := func(ref string) []string {
		var args []string
		for _, a := range cosignArgs(ref) {
			if a != "--use-signed-timestamps" {
				args = append(args, a)
			}
		}
		return args
	}
	vesselArgs := func(ref string) []string {
		return []string{"verify", ref, "--certificate-identity", who, "--certificate-oidc-issuer", ss.issuer.URL, "--trusted-root", trustedRoot}
	}
	// While the certificate is valid cosign (told to ignore the log)
	// accepts the bare signature; vessel never does: a keyless signature
	// needs proof of time.
	if time.Now().After(s.Leaf.NotAfter) {
		t.Fatalf("signing took longer than the certificate's %v life: raise certLife", certLife)
	}
	if _, stderr, code := cosignReleases[0].run(t, cosignBareArgs(bare)...); code != 0 {
		t.Fatalf("cosign v3 verify of the bare signature while the certificate is valid: %s", stderr)
	}
	if _, stderr, code := vessel(t, vesselArgs(bare)...); code != 3 || !strings.Contains(stderr, "no proof of when it was signed") {
		t.Fatalf("vessel verify of a keyless signature without proof of time: exit %d, want 3 saying it has no proof of time: %s", code, stderr)
	}

	time.Sleep(time.Until(s.Leaf.NotAfter) + 2*time.Second)

	for _, c := range cosignReleases {
		// cosign says only "leaf certificate verification failed"; v3
		// accepted the same signature with the same flags before expiry.
		if _, _, code := c.run(t, cosignBareArgs(bare)...); code == 0 {
			t.Errorf("%s accepted an expired certificate without a timestamp", c.name)
		}
		if _, stderr, code := c.run(t, cosignArgs(stamped)...); code != 0 {
			t.Errorf("%s refused an expired certificate with a timestamp from within its life:\n%s", c.name, stderr)
		}
	}
	if _, stderr, code := vessel(t, vesselArgs(bare)...); code != 3 {
		t.Errorf("vessel verify of an expired certificate without a timestamp: exit %d, want 3: %s", code, stderr)
	}
	if out, stderr, code := vessel(t, vesselArgs(stamped)...); code != 0 {
		t.Errorf("vessel verify of an expired certificate with a timestamp from within its life: exit %d\n%s%s", code, out, stderr)
	}
}
