package attest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/sigstore/sigstore/pkg/signature"
	"sigs.k8s.io/yaml"

	"github.com/vessel-oci/vessel/errdef"
)

// Policy says, per registry/repository scope, whose signatures are trusted
// and how many distinct signers a model needs. It is parsed strictly:
// unknown fields and impossible thresholds are errors.
//
//	version: 1
//	scopes:
//	  - scope: registry.example.com/team/**
//	    threshold: 1
//	    signers:
//	      - name: release
//	        key: release.pub          # relative to the policy file
//	  - scope: registry.example.com/quarantine/*
//	    reject: true
type Policy struct {
	Version int `json:"version"`
	// TrustedRoot is the trusted_root.json of the Sigstore instance that
	// keyless signers are checked against (relative to the policy file),
	// for every scope that names none of its own. Without one, Sigstore's
	// public instance's root is fetched through TUF when a keyless signer
	// needs it.
	TrustedRoot string  `json:"trustedRoot,omitempty"`
	Scopes      []Scope `json:"scopes"`
}

// Scope is one rule of a policy.
type Scope struct {
	// Scope is a glob over "host/repository" (or "oci:PATH" for a layout):
	// "*" matches within one path element, "**" across elements.
	Scope string `json:"scope"`
	// Threshold is how many distinct signers must have signed; 0 means 1.
	Threshold int          `json:"threshold,omitempty"`
	Signers   []SignerSpec `json:"signers,omitempty"`
	// Reject refuses everything in the scope.
	Reject bool `json:"reject,omitempty"`
	// Attestations the scope requires, each from its own signers.
	Attestations []Requirement `json:"attestations,omitempty"`
	// TrustedRoot overrides the policy's for this scope's keyless signers.
	TrustedRoot string `json:"trustedRoot,omitempty"`

	keys []TrustedSigner
	re   *regexp.Regexp
}

// Requirement says a model must carry a verified attestation of Type,
// signed by one of Signers (default: the scope's), whose predicate passes
// every check.
type Requirement struct {
	Type    string       `json:"type"`
	Signers []SignerSpec `json:"signers,omitempty"`
	Checks  []Check      `json:"checks,omitempty"`
	// Witness asks a witness run record (type WitnessCollection) of step.
	Witness *WitnessRule `json:"witness,omitempty"`

	keys []TrustedSigner
}

// WitnessRule is what a witness run record must say:
//
//	witness: {step: train, products: allFiles}
//
// Step is the run's step name. Products says which of the model's files
// the run must have produced: allFiles (the default, and the only rule
// yet), each with its digest and path. A record that does not cover every
// file is not evidence about the model at all, so that part is checked for
// every witness record, required or not.
type WitnessRule struct {
	Step     string `json:"step,omitempty"`
	Products string `json:"products,omitempty"`
}

// Check tests one value of a predicate, found by a dotted Path
// ("runDetails.builder.id"). Exactly one of Equals, Matches, Contains.
type Check struct {
	Path   string `json:"path"`
	Equals string `json:"equals,omitempty"`
	// Matches is a regular expression the value must match (anchor it).
	Matches string `json:"matches,omitempty"`
	// Contains requires an array element (an object) with these fields,
	// e.g. {name: dataset} in buildDefinition.resolvedDependencies.
	Contains map[string]string `json:"contains,omitempty"`

	re *regexp.Regexp
}

// SignerSpec names a trusted signer: a public key (Key or KeyData) or a
// keyless identity (Keyless), exactly one.
type SignerSpec struct {
	Name string `json:"name"`
	// Key is a PEM public key file, relative to the policy file.
	Key string `json:"key,omitempty"`
	// KeyData is an inline PEM public key.
	KeyData string `json:"keyData,omitempty"`
	// Keyless is an identity certified by the scope's trusted root.
	Keyless *KeylessSpec `json:"keyless,omitempty"`
	// CertificateChain is a certificate authority of the signer's own.
	CertificateChain *CertChainSpec `json:"certificateChain,omitempty"`
}

// CertChainSpec is a signer known by its own CA in a policy:
//
//	certificateChain: {roots: pki/root-ca.pem, identity: release@vendor.example}
//
// roots is a PEM file of CA certificates (self-signed ones are roots, the
// others intermediates), relative to the policy; identity (or
// identityRegexp) is a subject alternative name the signing certificate
// must carry, if set.
type CertChainSpec struct {
	Roots          string `json:"roots"`
	Identity       string `json:"identity,omitempty"`
	IdentityRegexp string `json:"identityRegexp,omitempty"`
}

// KeylessSpec is a keyless signer in a policy:
//
//	keyless: {issuer: "https://token.actions.githubusercontent.com",
//	          identityRegexp: "^https://github.com/org/repo/"}
//
// An issuer (exact or regexp) and an identity (exact or regexp), a proof
// of time (Proof constants, default any) and, only to relax what the
// trusted root asks, insecureIgnoreSCT. See Keyless.
type KeylessSpec struct {
	Issuer            string `json:"issuer,omitempty"`
	IssuerRegexp      string `json:"issuerRegexp,omitempty"`
	Identity          string `json:"identity,omitempty"`
	IdentityRegexp    string `json:"identityRegexp,omitempty"`
	TimeProof         string `json:"timeProof,omitempty"`
	InsecureIgnoreSCT bool   `json:"insecureIgnoreSCT,omitempty"`
}

// MaxPolicySize caps a policy file.
const MaxPolicySize = 1 << 20

// LoadPolicy reads and parses a policy file.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrPolicyFile, path, err)
	}
	p, err := ParsePolicy(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy parses policy YAML; relative key paths resolve against dir.
func ParsePolicy(data []byte, dir string) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("%w: %d bytes (cap %d)", ErrPolicyFile, len(data), MaxPolicySize)
	}
	var p Policy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicyFile, err)
	}
	if p.Version != 1 {
		return nil, fmt.Errorf("%w: version %d (want 1)", ErrPolicyFile, p.Version)
	}
	if len(p.Scopes) == 0 {
		return nil, fmt.Errorf("%w: no scopes", ErrPolicyFile)
	}
	seen := map[string]bool{}
	roots := &rootFiles{dir: dir, loaded: map[string]root.TrustedMaterial{}}
	for i := range p.Scopes {
		s := &p.Scopes[i]
		rootFile := s.TrustedRoot
		if rootFile == "" {
			rootFile = p.TrustedRoot
		}
		if err := s.load(dir, func() (root.TrustedMaterial, error) { return roots.get(rootFile) }); err != nil {
			return nil, fmt.Errorf("%w: scope %d (%q): %v", ErrPolicyFile, i, s.Scope, err)
		}
		if seen[s.Scope] {
			return nil, fmt.Errorf("%w: scope %q appears twice", ErrPolicyFile, s.Scope)
		}
		seen[s.Scope] = true
	}
	return &p, nil
}

// fetchPublicRoot gets Sigstore's public trusted root through TUF (a
// variable so that tests stay off the network).
var fetchPublicRoot = func() (root.TrustedMaterial, error) { return publicRoot(tuf.DefaultOptions()) }

// publicRoot fetches the trusted root from the TUF repository opts names,
// updating the cache in opts.CachePath (~/.sigstore/root, which cosign
// shares). Offline, it uses the cached copy as long as its TUF metadata
// has not expired: a machine that was online once keeps verifying, and
// an expired copy is never trusted.
func publicRoot(opts *tuf.Options) (root.TrustedMaterial, error) {
	tr, err := root.FetchTrustedRootWithOptions(opts)
	if err == nil {
		return tr, nil
	}
	cached := *opts
	cached.ForceCache = true
	tr, cerr := root.FetchTrustedRootWithOptions(&cached)
	if cerr == nil {
		return tr, nil
	}
	return nil, fmt.Errorf("%v; and no unexpired copy cached in %s (%v)", err, opts.CachePath, cerr)
}

// rootFiles loads each trusted root file a policy names once.
type rootFiles struct {
	dir    string
	loaded map[string]root.TrustedMaterial
}

func (r *rootFiles) get(name string) (root.TrustedMaterial, error) {
	if m, ok := r.loaded[name]; ok {
		return m, nil
	}
	path := name
	if path != "" && !filepath.IsAbs(path) {
		path = filepath.Join(r.dir, path)
	}
	m, err := TrustedRoot(path)
	if err != nil {
		return nil, err
	}
	r.loaded[name] = m
	return m, nil
}

// TrustedRoot reads the trusted_root.json at path, or with no path
// fetches Sigstore's public instance's through TUF.
func TrustedRoot(path string) (root.TrustedMaterial, error) {
	if path != "" {
		return LoadTrustedRoot(path)
	}
	m, err := fetchPublicRoot()
	if err != nil {
		return nil, fmt.Errorf("%w: Sigstore's public trusted root (through TUF, as no trusted root file is named): %v; offline, name a trusted_root.json", ErrKey, err)
	}
	return m, nil
}

// MaxTrustedRootSize caps a trusted_root.json (the public-good one is
// about 10 KB).
const MaxTrustedRootSize = 1 << 20

// LoadTrustedRoot reads a Sigstore trusted_root.json.
func LoadTrustedRoot(path string) (root.TrustedMaterial, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: trusted root: %v", ErrKey, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTrustedRootSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: trusted root %s: %v", ErrKey, path, err)
	}
	if len(data) > MaxTrustedRootSize {
		return nil, fmt.Errorf("%w: trusted root %s is over %d bytes", ErrKey, path, MaxTrustedRootSize)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: trusted root %s: %v", ErrKey, path, err)
	}
	return tr, nil
}

func (s *Scope) load(dir string, trustedRoot func() (root.TrustedMaterial, error)) error {
	if s.Scope == "" {
		return fmt.Errorf("empty scope pattern")
	}
	re, err := globRegexp(s.Scope)
	if err != nil {
		return err
	}
	s.re = re
	if s.Reject {
		if len(s.Signers) > 0 || s.Threshold != 0 || len(s.Attestations) > 0 {
			return fmt.Errorf("a reject scope has no signers, threshold or attestations")
		}
		return nil
	}
	if len(s.Signers) == 0 {
		return fmt.Errorf("no signers (use reject: true to refuse a scope)")
	}
	if s.Threshold < 0 || s.Threshold > len(s.Signers) {
		return fmt.Errorf("threshold %d with %d signers", s.Threshold, len(s.Signers))
	}
	keys, err := loadSigners(s.Signers, dir, map[string]bool{}, trustedRoot)
	if err != nil {
		return err
	}
	s.keys = keys
	names := map[string]bool{}
	for _, k := range keys {
		names[k.Name] = true
	}
	for i := range s.Attestations {
		if err := s.Attestations[i].load(dir, names, trustedRoot); err != nil {
			return fmt.Errorf("attestation %d (%q): %v", i, s.Attestations[i].Type, err)
		}
		if len(s.Attestations[i].keys) == 0 {
			s.Attestations[i].keys = s.keys
		}
	}
	return nil
}

// loadSigners reads the signers of specs; names must be new to seen.
// trustedRoot is asked for only when a keyless signer needs it.
func loadSigners(specs []SignerSpec, dir string, seen map[string]bool, trustedRoot func() (root.TrustedMaterial, error)) ([]TrustedSigner, error) {
	var keys []TrustedSigner
	for _, sg := range specs {
		if sg.Name == "" || seen[sg.Name] {
			return nil, fmt.Errorf("signer names must be present and distinct within a scope (%q)", sg.Name)
		}
		seen[sg.Name] = true
		kinds := 0
		for _, set := range []bool{sg.Key != "" || sg.KeyData != "", sg.Keyless != nil, sg.CertificateChain != nil} {
			if set {
				kinds++
			}
		}
		if kinds > 1 {
			return nil, fmt.Errorf("signer %s: give one of a key, keyless or certificateChain", sg.Name)
		}
		if cc := sg.CertificateChain; cc != nil {
			path := cc.Roots
			if path == "" {
				return nil, fmt.Errorf("signer %s: certificateChain needs roots (a PEM file of CA certificates)", sg.Name)
			}
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("signer %s: %v", sg.Name, err)
			}
			chain, err := NewCertChain(pem, cc.Identity, cc.IdentityRegexp)
			if err != nil {
				return nil, fmt.Errorf("signer %s: %v", sg.Name, err)
			}
			keys = append(keys, TrustedSigner{Name: sg.Name, CertChain: chain})
			continue
		}
		if sg.Keyless != nil {
			tr, err := trustedRoot()
			if err != nil {
				return nil, fmt.Errorf("signer %s: %v", sg.Name, err)
			}
			k := sg.Keyless
			kl, err := NewKeyless(Keyless{Issuer: k.Issuer, IssuerRegexp: k.IssuerRegexp, Identity: k.Identity, IdentityRegexp: k.IdentityRegexp,
				TimeProof: k.TimeProof, InsecureIgnoreSCT: k.InsecureIgnoreSCT, Root: tr})
			if err != nil {
				return nil, fmt.Errorf("signer %s: %v", sg.Name, err)
			}
			keys = append(keys, TrustedSigner{Name: sg.Name, Keyless: kl})
			continue
		}
		var v signature.Verifier
		var err error
		switch {
		case sg.Key != "" && sg.KeyData != "":
			return nil, fmt.Errorf("signer %s: give key or keyData, not both", sg.Name)
		case sg.KeyData != "":
			v, err = LoadPublicKey([]byte(sg.KeyData))
		case sg.Key != "":
			ref := sg.Key // a file relative to the policy, or a key service URI
			if !IsKMS(ref) && !filepath.IsAbs(ref) {
				ref = filepath.Join(dir, ref)
			}
			v, err = LoadTrustedKey(context.Background(), ref)
		default:
			return nil, fmt.Errorf("signer %s: no key", sg.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("signer %s: %v", sg.Name, err)
		}
		keys = append(keys, TrustedSigner{Name: sg.Name, Key: v})
	}
	return keys, nil
}

func (r *Requirement) load(dir string, seen map[string]bool, trustedRoot func() (root.TrustedMaterial, error)) error {
	if w := r.Witness; w != nil {
		if r.Type == "" {
			r.Type = WitnessCollection
		}
		if r.Type != WitnessCollection {
			return fmt.Errorf("witness: is for type %s, not %s", WitnessCollection, r.Type)
		}
		if w.Products != "" && w.Products != "allFiles" {
			return fmt.Errorf("witness products %q: want allFiles", w.Products)
		}
	}
	if r.Type == "" {
		return fmt.Errorf("no type")
	}
	keys, err := loadSigners(r.Signers, dir, seen, trustedRoot)
	if err != nil {
		return err
	}
	r.keys = keys
	for i := range r.Checks {
		c := &r.Checks[i]
		n := 0
		for _, set := range []bool{c.Equals != "", c.Matches != "", c.Contains != nil} {
			if set {
				n++
			}
		}
		if c.Path == "" || n != 1 {
			return fmt.Errorf("check %d: give a path and exactly one of equals, matches, contains", i)
		}
		if c.Matches != "" {
			re, err := regexp.Compile(c.Matches)
			if err != nil {
				return fmt.Errorf("check %d: %v", i, err)
			}
			c.re = re
		}
	}
	return nil
}

// Keys returns the keys whose attestations satisfy the requirement.
func (r *Requirement) Keys() []TrustedSigner { return r.keys }

// Signed reports whether signer (a key name) may satisfy the requirement.
func (r *Requirement) Signed(signer string) bool {
	for _, k := range r.keys {
		if k.Name == signer {
			return true
		}
	}
	return false
}

// Evaluate runs the checks on a verified predicate; the error says which
// check failed and what the value was.
func (r *Requirement) Evaluate(predicate json.RawMessage) error {
	var doc any
	if err := json.Unmarshal(predicate, &doc); err != nil {
		return fmt.Errorf("%w: predicate is not JSON: %v", errdef.ErrUntrusted, err)
	}
	if w := r.Witness; w != nil && w.Step != "" {
		if step, _ := lookup(doc, "name"); fmt.Sprint(step) != w.Step {
			return fmt.Errorf("%w: the witness run is of step %q, not %q", errdef.ErrUntrusted, fmt.Sprint(step), w.Step)
		}
	}
	for _, c := range r.Checks {
		v, ok := lookup(doc, c.Path)
		switch {
		case !ok:
			return fmt.Errorf("%w: %s: %s is missing", errdef.ErrUntrusted, r.Type, c.Path)
		case c.Equals != "" && fmt.Sprint(v) != c.Equals:
			return fmt.Errorf("%w: %s: %s is %q, want %q", errdef.ErrUntrusted, r.Type, c.Path, fmt.Sprint(v), c.Equals)
		case c.re != nil && !c.re.MatchString(fmt.Sprint(v)):
			return fmt.Errorf("%w: %s: %s is %q, which does not match %q", errdef.ErrUntrusted, r.Type, c.Path, fmt.Sprint(v), c.Matches)
		case c.Contains != nil && !containsObject(v, c.Contains):
			return fmt.Errorf("%w: %s: %s has no element with %v", errdef.ErrUntrusted, r.Type, c.Path, c.Contains)
		}
	}
	return nil
}

// lookup follows a dotted path through JSON objects.
func lookup(doc any, path string) (any, bool) {
	for _, key := range strings.Split(path, ".") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = m[key]; !ok {
			return nil, false
		}
	}
	return doc, true
}

func containsObject(v any, want map[string]string) bool {
	list, ok := v.([]any)
	if !ok {
		return false
	}
	for _, el := range list {
		obj, ok := el.(map[string]any)
		if !ok {
			continue
		}
		all := true
		for k, w := range want {
			if got, ok := obj[k]; !ok || fmt.Sprint(got) != w {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// AllKeys returns every key the scope's signatures and attestations may
// be verified with.
func (s *Scope) AllKeys() []TrustedSigner {
	keys := append([]TrustedSigner{}, s.keys...)
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k.Name] = true
	}
	for _, r := range s.Attestations {
		for _, k := range r.keys {
			if !seen[k.Name] {
				seen[k.Name] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// KeyPolicy is the one-signer policy that --key flags stand for: every
// scope, any one of keys.
func KeyPolicy(keys []TrustedSigner) *Policy {
	re, _ := globRegexp("**")
	return &Policy{Version: 1, Scopes: []Scope{{Scope: "**", Threshold: 1, keys: keys, re: re}}}
}

// TrustsFor reports whether the scope trusts signer for statements of
// predicateType: a signer of the scope's for anything, a requirement's
// signer for its type only.
func (s *Scope) TrustsFor(signer, predicateType string) bool {
	if s.Signs(signer) {
		return true
	}
	for _, r := range s.Attestations {
		if r.Type == predicateType && r.Signed(signer) {
			return true
		}
	}
	return false
}

// Keys returns the keys whose signatures count for the scope's threshold.
func (s *Scope) Keys() []TrustedSigner { return s.keys }

// Signs reports whether signer (a key name) is one of the scope's signers.
func (s *Scope) Signs(signer string) bool {
	for _, k := range s.keys {
		if k.Name == signer {
			return true
		}
	}
	return false
}

// Need returns how many distinct signers the scope requires.
func (s *Scope) Need() int {
	if s.Threshold <= 0 {
		return 1
	}
	return s.Threshold
}

// ScopeFor returns the most specific scope matching name ("host/repo" or
// "oci:PATH"): the one with the most literal characters, then the fewest
// wildcards, then the first listed. No match means nothing is trusted.
func (p *Policy) ScopeFor(name string) (*Scope, error) {
	var best *Scope
	bestLit, bestWild := -1, 0
	for i := range p.Scopes {
		s := &p.Scopes[i]
		if s.re == nil || !s.re.MatchString(name) {
			continue
		}
		lit := len(strings.ReplaceAll(s.Scope, "*", ""))
		wild := strings.Count(s.Scope, "*")
		if lit > bestLit || (lit == bestLit && wild < bestWild) {
			best, bestLit, bestWild = s, lit, wild
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: no policy scope matches %s", errdef.ErrUntrusted, name)
	}
	return best, nil
}

// globRegexp compiles a scope glob: "**" matches any run of characters,
// "*" any run without a "/". Go's regexp is linear-time, so no pattern
// can make matching blow up.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
			for i < len(pattern) && pattern[i] == '*' {
				i++
			}
		case pattern[i] == '*':
			b.WriteString("[^/]*")
			i++
		default:
			j := i
			for j < len(pattern) && pattern[j] != '*' {
				j++
			}
			b.WriteString(regexp.QuoteMeta(pattern[i:j]))
			i = j
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
