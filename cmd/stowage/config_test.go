package main

import (
	"os"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "0.0.0.0" || cfg.Port != 5000 || cfg.Backend != "file" || cfg.TUSURLPath != "/upload/resumable" ||
		cfg.DBServiceRole != "service_role" || cfg.TenantID != "storage-single-tenant" || !cfg.Embedded() {
		t.Fatalf("defaults = %+v", cfg)
	}
}

// STOWAGE_MULTIPART_EXPIRY is seconds, 24 hours unless set, up to 30 days.
func TestLoadConfigMultipartExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  int
	}{{"", 86400}, {"1", 1}, {"3600", 3600}, {" 7200 ", 7200}, {"2592000", 2592000}} {
		cfg, err := LoadConfig(env(map[string]string{"STOWAGE_MULTIPART_EXPIRY": tc.value}))
		if err != nil || cfg.MultipartExpiry != tc.want {
			t.Errorf("STOWAGE_MULTIPART_EXPIRY=%q: %d, %v; want %d", tc.value, cfg.MultipartExpiry, err, tc.want)
		}
	}
}

func TestLoadConfigLegacyNames(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(env(map[string]string{"PORT": "7000", "PGRST_JWT_SECRET": "s", "DATABASE_URL": "postgres://x",
		"FILE_STORAGE_BACKEND_PATH": "/srv", "FILE_SIZE_LIMIT": "50MB", "SERVER_PORT": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 7000 || cfg.JWTSecret != "s" || cfg.FilePath != "/srv" || cfg.FileSizeLimit != "50MB" {
		t.Fatalf("legacy names not honoured: %+v", cfg)
	}
	cfg, _ = LoadConfig(env(map[string]string{"PORT": "7000", "SERVER_PORT": "7001"}))
	if cfg.Port != 7001 {
		t.Fatalf("the primary name must win, got %d", cfg.Port)
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"port not a number", map[string]string{"SERVER_PORT": "abc"}, "SERVER_PORT"},
		{"port out of range", map[string]string{"SERVER_PORT": "70000"}, "SERVER_PORT"},
		{"unknown backend", map[string]string{"STORAGE_BACKEND": "gcs"}, "STORAGE_BACKEND"},
		{"unknown algorithm", map[string]string{"AUTH_JWT_ALGORITHM": "none"}, "AUTH_JWT_ALGORITHM"},
		{"bad bool", map[string]string{"DB_INSTALL_ROLES": "yes"}, "DB_INSTALL_ROLES"},
		{"bad size", map[string]string{"UPLOAD_FILE_SIZE_LIMIT": "lots"}, "UPLOAD_FILE_SIZE_LIMIT"},
		{"bad log level", map[string]string{"LOG_LEVEL": "chatty"}, "LOG_LEVEL"},
		{"secret required with a database", map[string]string{"DATABASE_URL": "postgres://x"}, "AUTH_JWT_SECRET"},
		{"half S3 credentials", map[string]string{"S3_PROTOCOL_ACCESS_KEY_ID": "k"}, "S3_PROTOCOL_ACCESS_KEY_SECRET"},
		{"tus path", map[string]string{"TUS_URL_PATH": "upload"}, "TUS_URL_PATH"},
		{"multipart expiry zero", map[string]string{"STOWAGE_MULTIPART_EXPIRY": "0"}, "STOWAGE_MULTIPART_EXPIRY"},
		{"multipart expiry negative", map[string]string{"STOWAGE_MULTIPART_EXPIRY": "-60"}, "STOWAGE_MULTIPART_EXPIRY"},
		{"multipart expiry not a number", map[string]string{"STOWAGE_MULTIPART_EXPIRY": "24h"}, "STOWAGE_MULTIPART_EXPIRY"},
		{"multipart expiry over 30 days", map[string]string{"STOWAGE_MULTIPART_EXPIRY": "2592001"}, "STOWAGE_MULTIPART_EXPIRY"},
		{"inline max negative", map[string]string{"STOWAGE_INLINE_MAX_BYTES": "-1"}, "STOWAGE_INLINE_MAX_BYTES"},
		{"inline max over 1 MiB", map[string]string{"STOWAGE_INLINE_MAX_BYTES": "1048577"}, "STOWAGE_INLINE_MAX_BYTES"},
		{"cdn purge endpoint not a URL", map[string]string{"CDN_PURGE_ENDPOINT_URL": "cdn.local/api"}, "CDN_PURGE_ENDPOINT_URL"},
		{"webhook url not http", map[string]string{"WEBHOOK_URL": "ftp://x"}, "WEBHOOK_URL"},
		{"notify webhook without url", map[string]string{"STOWAGE_NOTIFY_WEBHOOKS": "a=http://x,b"}, "STOWAGE_NOTIFY_WEBHOOKS"},
		{"notify webhook name with colon", map[string]string{"STOWAGE_NOTIFY_WEBHOOKS": "a:b=http://x"}, "STOWAGE_NOTIFY_WEBHOOKS"},
		{"notify token for unknown target", map[string]string{"STOWAGE_NOTIFY_WEBHOOKS": "a=http://x", "STOWAGE_NOTIFY_WEBHOOK_TOKENS": "b=t"}, "STOWAGE_NOTIFY_WEBHOOK_TOKENS"},
		{"notify token empty", map[string]string{"STOWAGE_NOTIFY_WEBHOOKS": "a=http://x", "STOWAGE_NOTIFY_WEBHOOK_TOKENS": "a="}, "STOWAGE_NOTIFY_WEBHOOK_TOKENS"},
		{"auto purge without endpoint", map[string]string{"STOWAGE_CDN_AUTO_PURGE": "true"}, "STOWAGE_CDN_AUTO_PURGE"},
		{"event attempts zero", map[string]string{"STOWAGE_EVENTS_MAX_ATTEMPTS": "0"}, "STOWAGE_EVENTS_MAX_ATTEMPTS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %s, got %v", tc.want, err)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	cfg, _ := LoadConfig(env(map[string]string{"AUTH_JWT_SECRET": "hunter2"}))
	if s := strings.Join([]string{cfg.JWTSecret.String()}, ""); strings.Contains(s, "hunter2") {
		t.Fatal("secret printed")
	}
}

// TestReadmeConfigTable keeps README's table equal to the struct tags it is generated from.
// TestNotifyTokenNeverInErrors: a malformed STOWAGE_NOTIFY_WEBHOOK_TOKENS entry is refused
// without printing it (an entry without "=" may be a bare token).
func TestNotifyTokenNeverInErrors(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"s3cr3t-bare-token", "a=t0k, s3cr3t-bare-token", "s3cr3t-bare-token=x=y"} {
		_, err := LoadConfig(env(map[string]string{"STOWAGE_NOTIFY_WEBHOOKS": "a=http://x", "STOWAGE_NOTIFY_WEBHOOK_TOKENS": v}))
		if err == nil || !strings.Contains(err.Error(), "STOWAGE_NOTIFY_WEBHOOK_TOKENS") {
			t.Fatalf("%q: want an error naming STOWAGE_NOTIFY_WEBHOOK_TOKENS, got %v", v, err)
		}
		if strings.Contains(err.Error(), "t0k") || strings.Contains(err.Error(), "=x=y") || (!strings.Contains(v, "=x=y") && strings.Contains(err.Error(), "s3cr3t")) {
			t.Errorf("%q: token printed: %v", v, err)
		}
	}
}

func TestReadmeConfigTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), ConfigTable()) {
		t.Fatal("README.md's configuration table is stale: regenerate it with `go run ./cmd/stowage config-table`")
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	if code := run([]string{"--help"}, env(nil), &out, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range configFields() {
		if !strings.Contains(out.String(), f.names[0]) {
			t.Errorf("--help does not mention %s", f.names[0])
		}
	}
	var errOut strings.Builder
	if code := run([]string{"serve"}, env(map[string]string{"SERVER_PORT": "x"}), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "SERVER_PORT") {
		t.Fatalf("bad config: exit %d, %q", code, errOut.String())
	}
}
