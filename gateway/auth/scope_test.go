package auth

import "testing"

func TestScopeAllows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		claims map[string]any
		scope  string
		want   bool
	}{
		{"download scope", map[string]any{"scope": "download"}, "download", true},
		{"upload scope", map[string]any{"scope": "upload", "upsert": false}, "upload", true},
		{"download token used to upload", map[string]any{"scope": "download"}, "upload", false},
		{"upload token used to download", map[string]any{"scope": "upload", "upsert": true}, "download", false},
		{"legacy download token", map[string]any{"url": "b/k"}, "download", true},
		{"legacy upload token", map[string]any{"url": "b/k", "upsert": false}, "upload", true},
		{"legacy upload token used to download", map[string]any{"upsert": true}, "download", false},
		{"legacy download token used to upload", map[string]any{}, "upload", false},
		{"unknown scope asked", map[string]any{"scope": "admin"}, "admin", true},
		{"no such scope", map[string]any{}, "admin", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ScopeAllows(tc.claims, tc.scope); got != tc.want {
				t.Fatalf("ScopeAllows(%v, %q) = %v, want %v", tc.claims, tc.scope, got, tc.want)
			}
		})
	}
}
