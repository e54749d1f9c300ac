// Package tus runs the real tus-js-client (script.mjs, from the committed
// package-lock.json) and raw TUS requests against the real stowage binary, across restarts.
package tus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// randomFile writes n random bytes to a temporary file.
func randomFile(t *testing.T, n int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// node runs script.mjs in mode and decodes its last output line.
func node(t *testing.T, d string, env map[string]string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "script.mjs")
	cmd.Dir = d
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tus-js-client %s: %v\nstdout: %s\nstderr: %s", env["MODE"], err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), out); err != nil {
		t.Fatalf("script output %q: %v", stdout.String(), err)
	}
}

func createBucket(t *testing.T, srv *harness.Server, name string) {
	t.Helper()
	harness.MustStatus(t, harness.Do(t, "POST", srv.URL+"/bucket", srv.ServiceKey, strings.NewReader(`{"name":"`+name+`"}`), -1,
		map[string]string{"Content-Type": "application/json"}), 200)
}

// sameBytes downloads bucket/key and compares it with the file at p, streaming both.
func sameBytes(t *testing.T, srv *harness.Server, bucket, key, p string) {
	t.Helper()
	resp := harness.Do(t, "GET", srv.URL+"/object/authenticated/"+bucket+"/"+key, srv.ServiceKey, nil, 0, nil)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("download %s/%s: %d %s", bucket, key, resp.StatusCode, b)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		n, errA := io.ReadFull(resp.Body, a)
		m, errB := io.ReadFull(f, b)
		if n != m || !bytes.Equal(a[:n], b[:m]) {
			t.Fatalf("%s/%s differs from the source near byte %d", bucket, key, off)
		}
		off += int64(n)
		if errA != nil || errB != nil {
			if (errA == nil) != (errB == nil) {
				t.Fatalf("%s/%s: length differs (%v, %v)", bucket, key, errA, errB)
			}
			return
		}
	}
}

// restartOptions are the options of a server that continues where srv stopped: same
// database, data folder and upstream.
func restartOptions(srv *harness.Server, dbURL string) harness.Options {
	return harness.Options{DatabaseURL: dbURL, DataDir: srv.DataDir, Backend: srv.Backend, MinIO: srv.MinIO,
		MultiTenant: srv.MultiTenant}
}

// TestTusJSClient uploads 50 MiB, and aborts another upload after two chunks, restarts the
// server on the same database, data folder and upstream, and resumes it from its stored
// URL; both objects must come back byte for byte. On the file store the client sends
// 6 MiB chunks; on the S3 store 2 MiB chunks, below S3's 5 MiB minimum part size, so the
// server keeps tails upstream between chunks (also across the restart).
func TestTusJSClient(t *testing.T) {
	harness.ForEachBackend(t, func(t *testing.T, backend string) {
		testTusJSClient(t, harness.Options{Backend: backend})
	})
}

// TestTusJSClientMultiTenant runs the same uploads against a tenant of a multi-tenant
// Stowage (harness.Options.MultiTenant, behind a proxy that sets X-Forwarded-Host), on the
// file backend; the restart is a new gateway on a new control database that lists the same
// tenant database, and the stored upload URL resumes through it.
func TestTusJSClientMultiTenant(t *testing.T) {
	testTusJSClient(t, harness.Options{Backend: "file", MultiTenant: true})
}

func testTusJSClient(t *testing.T, opts harness.Options) {
	backend := opts.Backend
	d := harness.CallerDir(t)
	harness.NodeModules(t, d, "tus-js-client")
	chunk := int64(6 << 20)
	if backend == "s3" {
		chunk = 2 << 20
	}
	dbURL := pgtest.URL(t)
	opts.DatabaseURL = dbURL
	srv := harness.Start(t, opts)
	createBucket(t, srv, "tus")
	big := randomFile(t, 50<<20)
	resumable := randomFile(t, 20<<20)
	base := map[string]string{"KEY": srv.ServiceKey, "BUCKET": "tus", "CHUNK_SIZE": strconv.FormatInt(chunk, 10)}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	var done struct {
		Done          bool
		FirstProgress int64
	}
	node(t, d, with("MODE", "full", "ENDPOINT", srv.URL+"/storage/v1/upload/resumable", "OBJECT", "dir/big.bin", "FILE", big), &done)
	if !done.Done {
		t.Fatal("tus-js-client full upload did not report success")
	}
	sameBytes(t, srv, "tus", "dir/big.bin", big)

	var partial struct{ URL string }
	node(t, d, with("MODE", "partial", "ENDPOINT", srv.URL+"/upload/resumable", "OBJECT", "resumed.bin", "FILE", resumable), &partial)
	if !strings.HasPrefix(partial.URL, srv.URL+"/upload/resumable/") {
		t.Fatalf("upload URL %q", partial.URL)
	}
	srv.Stop(t)

	srv2 := harness.Start(t, restartOptions(srv, dbURL))
	url := strings.Replace(partial.URL, srv.URL, srv2.URL, 1) // the new process listens on another port
	done.Done, done.FirstProgress = false, 0
	node(t, d, with("MODE", "resume", "KEY", srv2.ServiceKey, "ENDPOINT", srv2.URL+"/upload/resumable", "UPLOAD_URL", url,
		"OBJECT", "resumed.bin", "FILE", resumable), &done)
	if !done.Done {
		t.Fatal("tus-js-client resume did not report success")
	}
	if done.FirstProgress < 2*chunk {
		t.Fatalf("resume started at byte %d, not after the two stored chunks", done.FirstProgress)
	}
	sameBytes(t, srv2, "tus", "resumed.bin", resumable)
}

// tusClient is raw TUS over HTTP.
type tusClient struct {
	t   *testing.T
	srv *harness.Server
}

func (c tusClient) create(bucket, key string, length int64) string {
	c.t.Helper()
	md := "bucketName " + base64.StdEncoding.EncodeToString([]byte(bucket)) + ",objectName " + base64.StdEncoding.EncodeToString([]byte(key))
	resp := harness.Do(c.t, "POST", c.srv.URL+"/upload/resumable", c.srv.ServiceKey, nil, 0, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.FormatInt(length, 10), "Upload-Metadata": md})
	harness.MustStatus(c.t, resp, 201)
	return resp.Header.Get("Location")
}

func (c tusClient) patch(url string, offset int64, body io.Reader, size int64) *http.Response {
	c.t.Helper()
	return harness.Do(c.t, "PATCH", url, c.srv.ServiceKey, body, size, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.FormatInt(offset, 10),
		"Content-Type": "application/offset+octet-stream"})
}

// TestRestartBetweenPatches stops the binary between two PATCHes and finishes the upload
// on a new process over the same database and data folder (or upstream bucket: there the
// first 1 MiB waits as the upload's tail).
func TestRestartBetweenPatches(t *testing.T) {
	harness.ForEachBackend(t, testRestartBetweenPatches)
}

func testRestartBetweenPatches(t *testing.T, backend string) {
	dbURL := pgtest.URL(t)
	srv := harness.Start(t, harness.Options{DatabaseURL: dbURL, Backend: backend})
	createBucket(t, srv, "r")
	p := randomFile(t, 3<<20)
	data, _ := os.ReadFile(p)
	c := tusClient{t, srv}
	loc := c.create("r", "restart.bin", int64(len(data)))
	harness.MustStatus(t, c.patch(loc, 0, bytes.NewReader(data[:1<<20]), 1<<20), 204)
	srv.Stop(t)

	srv2 := harness.Start(t, restartOptions(srv, dbURL))
	loc = strings.Replace(loc, srv.URL, srv2.URL, 1)
	c = tusClient{t, srv2}
	head := harness.Do(t, "HEAD", loc, srv2.ServiceKey, nil, 0, map[string]string{"Tus-Resumable": "1.0.0"})
	harness.MustStatus(t, head, 200)
	if got := head.Header.Get("Upload-Offset"); got != strconv.Itoa(1<<20) {
		t.Fatalf("offset after restart %q", got)
	}
	harness.MustStatus(t, c.patch(loc, 0, bytes.NewReader(data[:10]), 10), 409)
	resp := c.patch(loc, 1<<20, bytes.NewReader(data[1<<20:]), int64(len(data)-1<<20))
	harness.MustStatus(t, resp, 204)
	if resp.Header.Get("Tus-Complete") != "1" {
		t.Fatalf("not complete: %v", resp.Header)
	}
	sameBytes(t, srv2, "r", "restart.bin", p)
}

// zeroReader yields n zero bytes without holding them.
type zeroReader struct{ left int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > z.left {
		n = z.left
	}
	clear(p[:n])
	z.left -= n
	return int(n), nil
}

// TestThroughput compares a 1 GiB TUS upload in 6 MiB chunks (STOWAGE_BENCH_CHUNK_MIB) with
// one 1 GiB PUT, on each
// backend, and logs both rates and the peak RSS of each (a fresh server per upload, so
// each peak is that upload's). It takes tens of seconds on these machines, so it runs only
// with STOWAGE_BENCH=1 (and never with -short). No thresholds: figures only.
func TestThroughput(t *testing.T) {
	if testing.Short() || os.Getenv("STOWAGE_BENCH") != "1" {
		t.Skip("set STOWAGE_BENCH=1 (without -short) to measure")
	}
	harness.ForEachBackend(t, func(t *testing.T, backend string) {
		const size = int64(1 << 30)
		chunk := int64(6 << 20)
		if v, err := strconv.ParseInt(os.Getenv("STOWAGE_BENCH_CHUNK_MIB"), 10, 64); err == nil && v > 0 {
			chunk = v << 20
		}
		dbURL := pgtest.URL(t)
		putSrv := harness.Start(t, harness.Options{DatabaseURL: dbURL, Backend: backend})
		createBucket(t, putSrv, "bench")
		start := time.Now()
		resp := harness.Do(t, "PUT", putSrv.URL+"/object/bench/put.bin", putSrv.ServiceKey, &zeroReader{size}, size,
			map[string]string{"Content-Type": "application/octet-stream"})
		harness.MustStatus(t, resp, 200)
		put := time.Since(start)
		putRSS := putSrv.PeakRSS(t)
		putSrv.Stop(t)

		srv := harness.Start(t, restartOptions(putSrv, dbURL))
		c := tusClient{t, srv}
		start = time.Now()
		loc := c.create("bench", "tus.bin", size)
		for off := int64(0); off < size; off += chunk {
			n := min(chunk, size-off)
			harness.MustStatus(t, c.patch(loc, off, &zeroReader{n}, n), 204)
		}
		tusTime := time.Since(start)
		mib := float64(size) / (1 << 20)
		t.Logf("%s: 1 GiB single PUT: %v (%.0f MiB/s, peak RSS %d MiB); TUS %d MiB chunks: %v (%.0f MiB/s, peak RSS %d MiB); TUS/PUT time ratio %.2f",
			backend, put.Round(time.Millisecond), mib/put.Seconds(), putRSS>>20, chunk>>20, tusTime.Round(time.Millisecond),
			mib/tusTime.Seconds(), srv.PeakRSS(t)>>20, tusTime.Seconds()/put.Seconds())
	})
}
