package attest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
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
	Version int     `json:"version"`
	Scopes  []Scope `json:"scopes"`
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

	keys []TrustedKey
	re   *regexp.Regexp
}

// SignerSpec names a trusted public key (keyless identities and KMS keys
// come later, as other fields).
type SignerSpec struct {
	Name string `json:"name"`
	// Key is a PEM public key file, relative to the policy file.
	Key string `json:"key,omitempty"`
	// KeyData is an inline PEM public key.
	KeyData string `json:"keyData,omitempty"`
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
	for i := range p.Scopes {
		s := &p.Scopes[i]
		if err := s.load(dir); err != nil {
			return nil, fmt.Errorf("%w: scope %d (%q): %v", ErrPolicyFile, i, s.Scope, err)
		}
		if seen[s.Scope] {
			return nil, fmt.Errorf("%w: scope %q appears twice", ErrPolicyFile, s.Scope)
		}
		seen[s.Scope] = true
	}
	return &p, nil
}

func (s *Scope) load(dir string) error {
	if s.Scope == "" {
		return fmt.Errorf("empty scope pattern")
	}
	re, err := globRegexp(s.Scope)
	if err != nil {
		return err
	}
	s.re = re
	if s.Reject {
		if len(s.Signers) > 0 || s.Threshold != 0 {
			return fmt.Errorf("a reject scope has no signers or threshold")
		}
		return nil
	}
	if len(s.Signers) == 0 {
		return fmt.Errorf("no signers (use reject: true to refuse a scope)")
	}
	if s.Threshold < 0 || s.Threshold > len(s.Signers) {
		return fmt.Errorf("threshold %d with %d signers", s.Threshold, len(s.Signers))
	}
	names := map[string]bool{}
	for _, sg := range s.Signers {
		if sg.Name == "" || names[sg.Name] {
			return fmt.Errorf("signer names must be present and distinct (%q)", sg.Name)
		}
		names[sg.Name] = true
		pem := []byte(sg.KeyData)
		switch {
		case sg.Key != "" && sg.KeyData != "":
			return fmt.Errorf("signer %s: give key or keyData, not both", sg.Name)
		case sg.Key != "":
			path := sg.Key
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("signer %s: %v", sg.Name, err)
			}
			pem = b
		case sg.KeyData == "":
			return fmt.Errorf("signer %s: no key", sg.Name)
		}
		v, err := LoadPublicKey(pem)
		if err != nil {
			return fmt.Errorf("signer %s: %v", sg.Name, err)
		}
		s.keys = append(s.keys, TrustedKey{Name: sg.Name, Verifier: v})
	}
	return nil
}

// KeyPolicy is the one-signer policy that --key flags stand for: every
// scope, any one of keys.
func KeyPolicy(keys []TrustedKey) *Policy {
	re, _ := globRegexp("**")
	return &Policy{Version: 1, Scopes: []Scope{{Scope: "**", Threshold: 1, keys: keys, re: re}}}
}

// Keys returns the scope's trusted keys.
func (s *Scope) Keys() []TrustedKey { return s.keys }

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
		return nil, fmt.Errorf("%w: no policy scope matches %s", ErrUntrusted, name)
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
