package s3clients

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// s3cmdConfig points s3cmd at the S3 listener's root (s3cmd cannot use an endpoint with a
// path), path-style.
func s3cmdConfig(t *testing.T, e *env) string {
	t.Helper()
	host := fmt.Sprintf("127.0.0.1:%d", e.s3Port)
	id, secret := e.keys()
	cfg := filepath.Join(t.TempDir(), "s3cfg")
	body := fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\nuse_https = False\n"+
		"signature_v2 = False\nbucket_location = us-east-1\ncheck_ssl_certificate = False\n",
		id, secret, host, host)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func s3cmd(t *testing.T, environ []string, cfg string, args ...string) string {
	t.Helper()
	return run(t, environ, "/usr/bin/s3cmd", append([]string{"-c", cfg}, args...)...)
}

func testS3cmd(t *testing.T, e *env) {
	environ := toolEnv(t)
	cfg := s3cmdConfig(t, e)
	dir := t.TempDir()
	s3cmd(t, environ, cfg, "mb", "s3://s3cmd")
	file := filepath.Join(dir, "one.bin")
	if err := os.WriteFile(file, randomBytes(7, 12345), 0o644); err != nil {
		t.Fatal(err)
	}
	s3cmd(t, environ, cfg, "put", file, "s3://s3cmd/one.bin")
	back := filepath.Join(dir, "back.bin")
	s3cmd(t, environ, cfg, "get", "s3://s3cmd/one.bin", back)
	sameFile(t, file, back)

	up := filepath.Join(dir, "up")
	writeTree(t, up, 40)
	s3cmd(t, environ, cfg, "sync", up+"/", "s3://s3cmd/tree/")
	down := filepath.Join(dir, "down")
	if err := os.MkdirAll(down, 0o755); err != nil {
		t.Fatal(err)
	}
	s3cmd(t, environ, cfg, "sync", "s3://s3cmd/tree/", down+"/")
	sameTree(t, up, down)

	s3cmd(t, environ, cfg, "del", "s3://s3cmd/one.bin")
	s3cmd(t, environ, cfg, "del", "--recursive", "--force", "s3://s3cmd/tree/")
	if out := s3cmd(t, environ, cfg, "ls", "--recursive", "s3://s3cmd"); strings.TrimSpace(out) != "" {
		t.Fatalf("objects left: %s", out)
	}
	s3cmd(t, environ, cfg, "rb", "s3://s3cmd")
}
