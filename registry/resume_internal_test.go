package registry

import "testing"

func TestParseRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0-1023", 1024, true},
		{"bytes=0-9", 10, true},
		{"0-0", 1, true},
		{"0--1", 0, true}, // olareg, nothing held
		{"", 0, false},
		{"5-9", 0, false},
		{"0-", 0, false},
		{"0--2", 0, false},
		{"0-99999999999999999999", 0, false},
		{"0-9223372036854775807", 0, false},
	} {
		got, err := parseRange(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseRange(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"0-1023", "0--1", "bytes=0-9", "0-9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parseRange(s); err == nil && n < 0 {
			t.Fatalf("parseRange(%q) = %d", s, n)
		}
	})
}
