package main

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

// TestOperationalEndpoints checks /status, /version and that /metrics counts requests by
// route template (never by bucket or key).
func TestOperationalEndpoints(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.Options{Env: map[string]string{"VERSION": "9.9.9-test"}})
	harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/status", "", nil, 0, nil), 200)
	if v := harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/version", "", nil, 0, nil), 200); string(v) != "9.9.9-test" {
		t.Fatalf("/version = %q", v)
	}
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/bucket", s.ServiceKey, strings.NewReader(`{"name":"m"}`), -1, map[string]string{"Content-Type": "application/json"}), 200)
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/object/m/secret-name.txt", s.ServiceKey, strings.NewReader("x"), 1, nil), 200)
	resp := harness.Do(t, "GET", s.URL+"/object/authenticated/m/none", s.ServiceKey, nil, 0, nil)
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on responses")
	}
	harness.MustStatus(t, resp, 400)
	metrics := string(harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/metrics", "", nil, 0, nil), 200))
	for _, want := range []string{
		`stowage_http_requests_total{code="200",dialect="rest",method="POST",route="/object/:bucket/*"} 1`,
		`stowage_http_requests_total{code="400",dialect="rest",method="GET",route="/object/authenticated/:bucket/*"} 1`,
		`stowage_http_request_duration_seconds_bucket{dialect="rest",method="POST",route="/bucket"`,
		`stowage_http_request_body_bytes_total{dialect="rest",route="/object/:bucket/*"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "secret-name") {
		t.Error("/metrics leaks an object key into a label")
	}
}

// TestGracefulShutdownDrainsUploads sends SIGTERM while an upload is half sent: the upload
// still completes and the object is stored, then the process exits cleanly. The body is
// larger than the 1 MiB prefetch so the handler is already streaming it.
func TestGracefulShutdownDrainsUploads(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	s := harness.Start(t, harness.Options{DatabaseURL: dbURL})
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/bucket", s.ServiceKey, strings.NewReader(`{"name":"g"}`), -1, map[string]string{"Content-Type": "application/json"}), 200)

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", s.URL+"/object/g/slow.txt", pr)
	const size = 3 << 20
	data := make([]byte, size)
	rand.New(rand.NewSource(3)).Read(data)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+s.ServiceKey)
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		// A fresh connection: a reused keep-alive one may be closed as idle by the drain.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	if _, err := pw.Write(data[:size/2]); err != nil {
		t.Fatal(err)
	}
	// The written half may still sit in socket buffers, and a connection whose request the
	// server has not begun is idle, which a drain closes. Wait until the handler runs: its
	// write intent is in the database before it streams the body.
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for i, started := 0, false; !started; i++ {
		if i == 6000 { // a hang guard (minutes), not a budget
			t.Fatalf("the upload handler never recorded its write intent\n%s", s.Output())
		}
		var n int
		if err := conn.QueryRow(t.Context(), "select count(*) from stowage.blob_intents where kind = 'write'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		started = n > 0
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The drain has begun once the listener refuses new connections.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/status")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepting connections 30 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := pw.Write(data[size/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.status != 200 {
		t.Fatalf("in-flight upload during shutdown: status %d, err %v\n%s", r.status, r.err, s.Output())
	}
	s.WaitExit(t, time.Minute)

	// The object really is stored: a new process on the same database and data folder
	// serves the bytes that were sent across the SIGTERM.
	s2 := harness.Start(t, harness.Options{DatabaseURL: dbURL, DataDir: s.DataDir})
	got := harness.MustStatus(t, harness.Do(t, "GET", s2.URL+"/object/authenticated/g/slow.txt", s2.ServiceKey, nil, 0, nil), 200)
	if !bytes.Equal(got, data) {
		t.Fatalf("object stored during shutdown: %d bytes, differ from the %d sent", len(got), len(data))
	}
	s2.Stop(t)
}
