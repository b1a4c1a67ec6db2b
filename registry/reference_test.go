package registry

import (
	"errors"
	"testing"
)

func TestParseReference(t *testing.T) {
	t.Parallel()
	const dg = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	tests := []struct {
		in   string
		want Reference
	}{
		{"registry.example.com/team/llama:v1", Reference{Registry: "registry.example.com", Repository: "team/llama", Tag: "v1"}},
		{"localhost:5000/m@" + dg, Reference{Registry: "localhost:5000", Repository: "m", Digest: dg}},
		{"127.0.0.1:5000/a/b/c", Reference{Registry: "127.0.0.1:5000", Repository: "a/b/c"}},
		{"oci:./store:llama:v1", Reference{Layout: "./store", Tag: "llama:v1"}},
		{"oci:/abs/store", Reference{Layout: "/abs/store"}},
		{"oci:store@" + dg, Reference{Layout: "store", Digest: dg}},
		{"oci:store:v1.0-rc_1", Reference{Layout: "store", Tag: "v1.0-rc_1"}},
		// KServe's storage URI for a model in a registry.
		{"oci://registry.example.com/team/llama:v1", Reference{Registry: "registry.example.com", Repository: "team/llama", Tag: "v1"}},
	}
	for _, tt := range tests {
		got, err := ParseReference(tt.in)
		if err != nil {
			t.Errorf("ParseReference(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseReference(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		// String round-trips for references with a tag or digest.
		if again, err := ParseReference(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q via %q = %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestParseReferenceRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "llama", "https://registry.example.com/m:v1", "Registry.example.com/UPPER:v1",
		"host/m@sha256:short", "oci:", "oci::tag", "oci:store:bad tag", "oci:store:v1@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
		"oci:store@notadigest", "oci://", "oci://oci://host/m:v1",
	} {
		if got, err := ParseReference(in); !errors.Is(err, ErrBadReference) {
			t.Errorf("ParseReference(%q) = %+v, %v; want ErrBadReference", in, got, err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "127.0.0.1:5000": true, "127.9.9.9": true, "[::1]:5000": true,
		"registry.example.com": false, "10.0.0.1:5000": false, "localhost.example.com": false, "[::2]:80": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"r.example/a/b:v1", "localhost:5000/m@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "oci:./s:t", "oci:s@sha256:00", "oci:a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseReference(s)
		if err != nil {
			if !errors.Is(err, ErrBadReference) {
				t.Fatalf("error without ErrBadReference: %v", err)
			}
			return
		}
		if ref.Tag != "" && ref.Digest != "" {
			t.Fatalf("%q: both tag and digest", s)
		}
		if ref.IsLayout() == (ref.Registry != "") {
			t.Fatalf("%q: layout %q and registry %q", s, ref.Layout, ref.Registry)
		}
		again, err := ParseReference(ref.String())
		if err != nil || again != ref {
			t.Fatalf("%q: String %q does not round-trip: %+v, %v", s, ref.String(), again, err)
		}
	})
}
