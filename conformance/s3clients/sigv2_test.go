package s3clients

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// s3cmdV2Config is s3cmdConfig with signature_v2 on: every request is signed with
// "Authorization: AWS key:signature".
func s3cmdV2Config(t *testing.T, e *env) string {
	t.Helper()
	cfg := s3cmdConfig(t, e)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v2 := strings.Replace(string(data), "signature_v2 = False", "signature_v2 = True", 1)
	if v2 == string(data) {
		t.Fatal("s3cmdConfig no longer sets signature_v2")
	}
	if err := os.WriteFile(cfg, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testS3cmdV2 runs s3cmd in signature_v2 mode (put, multipart put, get, ls, del), then
// fetches the SigV2 presigned URLs of `s3cmd signurl` with net/http.
func testS3cmdV2(t *testing.T, e *env) {
	environ := toolEnv(t)
	cfg := s3cmdV2Config(t, e)
	dir := t.TempDir()
	if out := s3cmd(t, environ, cfg, "--debug", "mb", "s3://s3cmd-v2"); !strings.Contains(out, "Using signature v2") {
		t.Fatalf("s3cmd did not sign with SigV2:\n%s", out)
	}
	t.Cleanup(func() {
		// Best effort: a failed test leaves nothing behind for the next run of this server.
		cmd := []string{"-c", cfg, "del", "--recursive", "--force", "s3://s3cmd-v2"}
		_ = runQuiet(environ, "/usr/bin/s3cmd", cmd...)
		_ = runQuiet(environ, "/usr/bin/s3cmd", "-c", cfg, "rb", "s3://s3cmd-v2")
	})
	small := filepath.Join(dir, "one.bin")
	if err := os.WriteFile(small, randomBytes(21, 54321), 0o644); err != nil {
		t.Fatal(err)
	}
	spaced := filepath.Join(dir, "with space.bin")
	if err := os.WriteFile(spaced, randomBytes(22, 999), 0o644); err != nil {
		t.Fatal(err)
	}
	// 11 MiB in 5 MiB parts: uploads, uploadId and partNumber are signed sub-resources.
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, randomBytes(23, 11<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	s3cmd(t, environ, cfg, "put", "--add-header=x-amz-meta-color:blue", small, "s3://s3cmd-v2/one.bin")
	s3cmd(t, environ, cfg, "put", spaced, "s3://s3cmd-v2/dir/with space.bin")
	s3cmd(t, environ, cfg, "put", "--multipart-chunk-size-mb=5", big, "s3://s3cmd-v2/big.bin")
	for _, name := range []string{"one.bin", "dir/with space.bin", "big.bin"} {
		back := filepath.Join(dir, "back-"+filepath.Base(name))
		s3cmd(t, environ, cfg, "get", "s3://s3cmd-v2/"+name, back)
		sameFile(t, filepath.Join(dir, filepath.Base(name)), back)
	}
	if out := s3cmd(t, environ, cfg, "info", "s3://s3cmd-v2/one.bin"); !strings.Contains(out, "x-amz-meta-color: blue") {
		t.Fatalf("metadata lost:\n%s", out)
	}
	out := s3cmd(t, environ, cfg, "ls", "--recursive", "s3://s3cmd-v2")
	for _, name := range []string{"s3://s3cmd-v2/one.bin", "s3://s3cmd-v2/dir/with space.bin", "s3://s3cmd-v2/big.bin"} {
		if !strings.Contains(out, name) {
			t.Fatalf("ls lacks %s:\n%s", name, out)
		}
	}

	// s3cmd signurl always makes SigV2 URLs (AWSAccessKeyId, Expires, Signature).
	signurl := func(key, expiry string) string {
		u := strings.TrimSpace(s3cmd(t, environ, cfg, "signurl", "s3://s3cmd-v2/"+key, expiry))
		if !strings.Contains(u, "AWSAccessKeyId=") || !strings.Contains(u, "Signature=") {
			t.Fatalf("signurl printed %q", u)
		}
		return u
	}
	fetch := func(u string) (int, []byte) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	want, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	valid := signurl("one.bin", "+600")
	if status, body := fetch(valid); status != 200 || string(body) != string(want) {
		t.Fatalf("presigned GET: %d, %d bytes", status, len(body))
	}
	if status, body := fetch(strings.Replace(valid, "/one.bin?", "/big.bin?", 1)); status != 403 || !strings.Contains(string(body), "<Code>SignatureDoesNotMatch</Code>") {
		t.Fatalf("URL for another key: %d %s", status, body)
	}
	past := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	if status, body := fetch(signurl("one.bin", past)); status != 403 || !strings.Contains(string(body), "<Message>Request has expired</Message>") {
		t.Fatalf("expired URL: %d %s", status, body)
	}

	s3cmd(t, environ, cfg, "del", "s3://s3cmd-v2/one.bin")
	s3cmd(t, environ, cfg, "del", "--recursive", "--force", "s3://s3cmd-v2/")
	if out := s3cmd(t, environ, cfg, "ls", "--recursive", "s3://s3cmd-v2"); strings.TrimSpace(out) != "" {
		t.Fatalf("objects left: %s", out)
	}
	s3cmd(t, environ, cfg, "rb", "s3://s3cmd-v2")
}

// runQuiet runs a client for cleanup, ignoring its outcome.
func runQuiet(environ []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = environ
	return cmd.Run()
}
