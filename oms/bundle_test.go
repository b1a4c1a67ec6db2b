package oms

import "testing"

// TestPyBytesRepr: known answers from CPython's f"{b}" for bytes b, which
// model_signing v0.2.0 signed in place of the DSSE encoding.
func TestPyBytesRepr(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []byte
		want string
	}{
		{[]byte("{\"a\": \"b'c\"}\n"), `b'{"a": "b\'c"}\n'`},
		{[]byte{0, 127, 128, 255, 9, 13, 92}, `b'\x00\x7f\x80\xff\t\r\\'`},
		{[]byte("it's"), `b"it's"`},
		{[]byte(`both ' and "`), `b'both \' and "'`},
		{[]byte("héllo"), `b'h\xc3\xa9llo'`},
		{nil, `b''`},
	} {
		if got := pyBytesRepr(tt.in); got != tt.want {
			t.Errorf("pyBytesRepr(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got, want := string(paeCompat("t", []byte("p\n"))), `DSSEV1 1 t 2 b'p\n'`; got != want {
		t.Errorf("paeCompat = %q, want %q", got, want)
	}
}
