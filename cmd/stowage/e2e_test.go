package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestServeLargeObjectBoundedMemory round-trips 1 GiB through the real binary and checks
// the server's peak RSS stays under 100 MiB: bodies are streamed, never held.
func TestServeLargeObjectBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB")
	}
	s := harness.Start(t, harness.Options{})
	resp := harness.Do(t, "POST", s.URL+"/bucket", s.ServiceKey, strings.NewReader(`{"name":"big"}`), -1, map[string]string{"Content-Type": "application/json"})
	harness.MustStatus(t, resp, 200)

	const size = 1 << 30
	src := io.LimitReader(rand.New(rand.NewSource(42)), size)
	want := sha256.New()
	resp = harness.Do(t, "POST", s.URL+"/object/big/one-gib.bin", s.ServiceKey, io.TeeReader(src, want), size, map[string]string{"Content-Type": "application/octet-stream"})
	harness.MustStatus(t, resp, 200)

	resp = harness.Do(t, "GET", s.URL+"/object/authenticated/big/one-gib.bin", s.ServiceKey, nil, 0, nil)
	if resp.StatusCode != 200 {
		harness.MustStatus(t, resp, 200)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("download: %d bytes, err %v, equal %v", n, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	rss := s.PeakRSS(t)
	t.Logf("peak RSS after a 1 GiB upload and download: %.1f MiB", float64(rss)/(1<<20))
	if rss > 100<<20 {
		t.Fatalf("peak RSS %d MiB, want < 100 MiB", rss>>20)
	}
	s.Stop(t)
}

// TestEmbeddedMode is `make run`: no DATABASE_URL, so the binary starts its own Postgres,
// generates a secret, prints keys, serves, and stops everything on SIGTERM.
func TestEmbeddedMode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs initdb")
	}
	data := t.TempDir()
	s := harness.Start(t, harness.Options{Embedded: true, DataDir: data})
	keys := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s.Output()))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.Contains(k, " ") {
			keys[k] = v
		}
	}
	service := keys["SUPABASE_SERVICE_ROLE_KEY"]
	if service == "" || keys["SUPABASE_ANON_KEY"] == "" || keys["AWS_ACCESS_KEY_ID"] == "" || keys["AWS_SECRET_ACCESS_KEY"] == "" {
		t.Fatalf("keys not printed:\n%s", s.Output())
	}
	json := map[string]string{"Content-Type": "application/json"}
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/storage/v1/bucket", service, strings.NewReader(`{"name":"dev"}`), -1, json), 200)
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/object/dev/hello.txt", service, strings.NewReader("hello"), 5, map[string]string{"Content-Type": "text/plain"}), 200)
	if b := harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/object/authenticated/dev/hello.txt", service, nil, 0, nil), 200); string(b) != "hello" {
		t.Fatalf("read back %q", b)
	}
	// anon without a policy: not found, as the reference answers (HTTP 400, statusCode 404)
	harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/object/authenticated/dev/hello.txt", keys["SUPABASE_ANON_KEY"], nil, 0, nil), 400)
	s.Stop(t)
	if _, err := os.Stat(filepath.Join(data, "postgres", "pgdata", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("embedded postgres still running after SIGTERM (postmaster.pid: %v)", err)
	}
	// A restart reuses the cluster, the data and the generated secret: old keys still work.
	s = harness.Start(t, harness.Options{Embedded: true, DataDir: data})
	harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/object/authenticated/dev/hello.txt", service, nil, 0, nil), 200)
	s.Stop(t)
}
