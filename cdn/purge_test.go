package cdn

import "testing"

// TestPurgeURL: the purge service is reached at the endpoint's path plus /purge, without
// its query or fragment, as the reference resolves CDN_PURGE_ENDPOINT_URL.
func TestPurgeURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"host only", "http://cdn.local", "http://cdn.local/purge"},
		{"root slash", "https://cdn.local/", "https://cdn.local/purge"},
		{"path", "http://cdn.local:8080/api/v1", "http://cdn.local:8080/api/v1/purge"},
		{"path with slash", "http://cdn.local/api/v1/", "http://cdn.local/api/v1/purge"},
		{"query and fragment dropped", "http://cdn.local/api?x=1#frag", "http://cdn.local/api/purge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PurgeURL(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("PurgeURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"cdn.local", "ftp://cdn.local", "http://", "://x", "/purge"} {
		if got, err := PurgeURL(bad); err == nil {
			t.Errorf("PurgeURL(%q) = %q, want an error", bad, got)
		}
	}
}

// TestPurgeUnknownType: a purge of a type the reference does not know is refused before
// anything is sent.
func TestPurgeUnknownType(t *testing.T) {
	t.Parallel()
	p, err := NewPurger(Options{Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Purge(t.Context(), Request{Type: "everything"}); err == nil {
		t.Fatal("an unknown purge type was accepted")
	}
}
