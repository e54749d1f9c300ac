package forwarded

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, host, proto string }{
		{`host=example.com;proto=https`, "example.com", "https"},
		{`for=1.2.3.4; Host="a.b:8443"; PROTO=http, host=second`, "a.b:8443", "http"},
		{`for=1.2.3.4`, "", ""},
		{``, "", ""},
	} {
		if h, p := Parse(tc.in); h != tc.host || p != tc.proto {
			t.Errorf("Parse(%q) = %q, %q; want %q, %q", tc.in, h, p, tc.host, tc.proto)
		}
	}
}

func TestPrefix(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "/storage/v1/": "/storage/v1", "storage/v1": "/storage/v1", "//": ""} {
		if got := Prefix(in); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", in, got, want)
		}
	}
}
