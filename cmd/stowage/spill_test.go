package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db/pgtest"
)

// TestSpillCommand: `stowage spill` moves a blob kept in Postgres to the file backend's
// folder, at the path the reference server reads (<root>/<bucket>/<tenant>/<key>/<version>).
func TestSpillCommand(t *testing.T) {
	t.Parallel()
	root, url := t.TempDir(), pgtest.URL(t)
	env := map[string]string{
		"DATABASE_URL":              url,
		"AUTH_JWT_SECRET":           "spill-test-secret-spill-test-secret-0123",
		"STORAGE_BACKEND":           "file",
		"STORAGE_FILE_BACKEND_PATH": root,
		"STORAGE_S3_BUCKET":         "stub",
		"LOG_LEVEL":                 "error",
		"STOWAGE_INLINE_MAX_BYTES":  "0",
	}
	getenv := func(k string) string { return env[k] }
	var stdout, stderr bytes.Buffer
	if code := run([]string{"migrate"}, getenv, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, stderr.String())
	}
	const key = "storage-single-tenant/b/photo.jpg/2b1c5c8e-0000-4000-8000-000000000001"
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `insert into stowage.small_blobs (key, data) values ($1, 'small bytes')`, key); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"spill"}, getenv, &stdout, &stderr); code != 0 {
		t.Fatalf("spill: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "moved 1 blobs (11 bytes)") {
		t.Errorf("spill said %q", stdout.String())
	}
	got, err := os.ReadFile(filepath.Join(root, "stub", key))
	if err != nil || string(got) != "small bytes" {
		t.Fatalf("file after spill: %q, %v", got, err)
	}
	var left int
	if err := conn.QueryRow(t.Context(), `select count(*) from stowage.small_blobs`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("rows left: %d, %v", left, err)
	}
	if code := run([]string{"spill", "extra"}, getenv, &stdout, &stderr); code != 2 {
		t.Errorf("spill with an argument: exit %d, want 2", code)
	}
	// Small objects still kept in Postgres by this configuration: refused, nothing read.
	stderr.Reset()
	if code := run([]string{"spill"}, func(k string) string {
		if k == "STOWAGE_INLINE_MAX_BYTES" {
			return ""
		}
		return env[k]
	}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "STOWAGE_INLINE_MAX_BYTES=8192") {
		t.Errorf("spill with the default STOWAGE_INLINE_MAX_BYTES: exit %d, %q; want 2 and why", code, stderr.String())
	}

	// A blob whose delete is under way (an intent names it) is left for a later run: exit 1.
	const busy = "storage-single-tenant/b/busy.txt/2b1c5c8e-0000-4000-8000-000000000002"
	for _, q := range []string{`insert into stowage.small_blobs (key, data) values ($1, 'busy')`,
		`insert into stowage.blob_intents (key, kind, expires_at) values ($1, 'delete', now() + interval '1 hour')`} {
		if _, err := conn.Exec(t.Context(), q, busy); err != nil {
			t.Fatal(err)
		}
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"spill"}, getenv, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "1 blobs left in Postgres") {
		t.Errorf("spill with a blob under way: exit %d, %q; want 1 and the count left", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(root, "stub", busy)); !os.IsNotExist(err) {
		t.Errorf("file of the blob under way: %v, want none", err)
	}

	// One engine serves one database: multi-tenant settings are refused, not half-served.
	mt := map[string]string{"MULTI_TENANT": "true", "DATABASE_MULTITENANT_URL": url,
		"REQUEST_X_FORWARDED_HOST_REGEXP": `^([a-z]+)\.local$`, "ENCRYPTION_KEY": "spill-test-encryption-key"}
	stderr.Reset()
	code := run([]string{"spill"}, func(k string) string {
		if v, ok := mt[k]; ok {
			return v
		}
		return env[k]
	}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "one tenant at a time") {
		t.Errorf("spill with MULTI_TENANT: exit %d, %q; want 2 and why", code, stderr.String())
	}
}
