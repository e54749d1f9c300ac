package main

import (
	"slices"
	"strings"
	"testing"
)

func TestLoadConfigAdmin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" = valid
		keys    []string
	}{
		{"no keys: no admin listener, nothing required", map[string]string{}, "", nil},
		{"keys need an encryption key", map[string]string{"ADMIN_API_KEYS": "k"}, "ENCRYPTION_KEY: required", nil},
		{"keys with encryption key", map[string]string{"ADMIN_API_KEYS": " a, ,b ", "ENCRYPTION_KEY": "e"}, "", []string{"a", "b"}},
		{"reference names", map[string]string{"SERVER_ADMIN_API_KEYS": "a", "AUTH_ENCRYPTION_KEY": "e", "SERVER_ADMIN_PORT": "6001"}, "", []string{"a"}},
		{"admin port equals the API port", map[string]string{"ADMIN_API_KEYS": "a", "ENCRYPTION_KEY": "e", "ADMIN_PORT": "5000"}, "SERVER_ADMIN_PORT=5000: must differ", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := LoadConfig(env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.adminKeys(); !slices.Equal(got, tc.keys) {
				t.Fatalf("keys = %q, want %q", got, tc.keys)
			}
			if cfg.EncryptionKey.String() != "" && cfg.EncryptionKey.String() != "[redacted]" {
				t.Fatal("ENCRYPTION_KEY printable")
			}
		})
	}
}
