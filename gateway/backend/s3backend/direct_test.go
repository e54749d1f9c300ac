package s3backend

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

// TestContractSDK runs the contract suite with the direct calls off, so the SDK's
// GetObject and PutObject (AWS endpoints, virtual-hosted buckets) stay covered.
func TestContractSDK(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, nil)
	if s.direct == nil {
		t.Fatal("a path-style custom endpoint must be served directly")
	}
	s.direct = nil
	runContract(t, s)
}

// TestDirectOnlyForPathStyleEndpoints pins when the direct calls are used.
func TestDirectOnlyForPathStyleEndpoints(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   Options
		direct bool
	}{
		{"PathStyleEndpoint", Options{Endpoint: "http://127.0.0.1:9000", ForcePathStyle: true}, true},
		{"VirtualHostedEndpoint", Options{Endpoint: "http://127.0.0.1:9000"}, false},
		{"AWS", Options{ForcePathStyle: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.opts.Bucket, tc.opts.AccessKeyID, tc.opts.SecretAccessKey = "b", "k", "s"
			s, err := New(t.Context(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.direct != nil; got != tc.direct {
				t.Errorf("direct = %v, want %v", got, tc.direct)
			}
		})
	}
}

// TestDirectKeysMatchSDK writes keys with characters that URL escaping treats specially
// through one path and reads them through the other: a key escaped differently by the two
// would be stored under another name, which a round trip on one path alone cannot see.
func TestDirectKeysMatchSDK(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, nil)
	d := s.direct
	keys := []string{"plain/a.txt", "sp ace/x", "plus+sign", "pct%25/%41", "q?uery#frag", "semi;colon=eq&amp",
		"ünïcødé/日本", "tilde~star*paren()", "quote'\"back\\slash", "a/b/c/d"}
	for _, key := range keys {
		t.Run("DirectThenSDK/"+key, func(t *testing.T) {
			s.direct = d
			put(t, s, key, "direct "+key)
			s.direct = nil
			if got := get(t, s, key); got != "direct "+key {
				t.Errorf("SDK read %q, want %q", got, "direct "+key)
			}
			if _, err := m.Client().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &m.Bucket, Key: aws.String(key)}); err != nil {
				t.Errorf("upstream HeadObject(%q): %v", key, err)
			}
		})
		t.Run("SDKThenDirect/"+key, func(t *testing.T) {
			s.direct = nil
			put(t, s, key, "sdk "+key)
			s.direct = d
			if got := get(t, s, key); got != "sdk "+key {
				t.Errorf("direct read %q, want %q", got, "sdk "+key)
			}
			// Open goes again through the SDK when the direct GET does not succeed, so
			// the read above alone would pass with a direct GET of the wrong name.
			k, err := s.objectKey(key)
			if err != nil {
				t.Fatal(err)
			}
			body, ok, err := d.get(t.Context(), *k, "")
			if err != nil || !ok {
				t.Fatalf("direct GET of %q did not succeed (ok %v, err %v): it asked for another name", key, ok, err)
			}
			b, err := io.ReadAll(body)
			body.Close()
			if err != nil || string(b) != "sdk "+key {
				t.Errorf("direct GET read %q, %v; want %q", b, err, "sdk "+key)
			}
			// S3 answers a DELETE of any name 204: only the upstream shows it hit the key.
			if err := s.Delete(t.Context(), key); err != nil {
				t.Fatalf("direct Delete(%q): %v", key, err)
			}
			_, err = m.Client().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &m.Bucket, Key: aws.String(key)})
			var nf *types.NotFound
			if !errors.As(err, &nf) {
				t.Errorf("upstream HeadObject(%q) after a direct Delete: %v, want NotFound", key, err)
			}
		})
	}
	s.direct = d
}

func put(t *testing.T, s *Store, key, body string) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, strings.NewReader(body), backend.PutOptions{Size: int64(len(body)), ContentType: "text/plain"}); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s *Store, key string) string {
	t.Helper()
	r, err := s.Open(t.Context(), key, backend.Whole)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(b)
}

// TestConnectionsReused counts the TCP connections MinIO accepts (through a counting relay)
// while one caller makes sequential calls, error answers included: each call must find the
// previous call's connection idle, so the count stays at what the calls need at once (one),
// whatever the number of calls. An answer not read to its end (or a pool of too few idle
// connections) would open a connection per call.
func TestConnectionsReused(t *testing.T) {
	m := miniotest.Start(t)
	relay := newCountingRelay(t, m.Endpoint)
	const calls = 40
	for _, path := range []string{"direct", "sdk"} {
		t.Run(path, func(t *testing.T) {
			s := newStore(t, m, func(o *Options) { o.Endpoint = relay.url })
			if path == "sdk" {
				s.direct = nil
			}
			body := strings.Repeat("x", 4<<10)
			put(t, s, "reuse/warm", body)
			before := relay.accepted.Load()
			for i := range calls {
				put(t, s, "reuse/k", body)
				if got := get(t, s, "reuse/k"); got != body {
					t.Fatalf("call %d: read %d bytes, want %d", i, len(got), len(body))
				}
				r, err := s.Open(t.Context(), "reuse/r", backend.Range{Offset: 1, Length: 2})
				if !errors.Is(err, backend.ErrNotFound) {
					t.Fatalf("Open of a missing key: %v, %v", r, err)
				}
				if err := s.Delete(t.Context(), "reuse/k"); err != nil {
					t.Fatalf("Delete: %v", err)
				}
			}
			if n := relay.accepted.Load() - before; n > 1 {
				t.Errorf("%d calls opened %d connections, want at most 1", 4*calls, n)
			}
		})
	}
}

// countingRelay forwards loopback connections to an upstream and counts them.
type countingRelay struct {
	url      string
	accepted atomic.Int64
}

func newCountingRelay(t *testing.T, upstream string) *countingRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(upstream, "http://")
	r := &countingRelay{url: "http://" + ln.Addr().String()}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.accepted.Add(1)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
			wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
		}
	})
	return r
}

// TestDirectPutAnswers checks what a direct PutObject makes of upstream answers: the
// SSE headers that rule out an MD5 ETag, and error bodies mapped like the SDK's.
func TestDirectPutAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		wantErr error // nil: success
		wantMD5 bool
	}{
		{name: "PlainETag", status: 200, header: map[string]string{"ETag": `"0123456789abcdef0123456789abcdef"`}, wantMD5: true},
		{name: "KMS", status: 200, header: map[string]string{"ETag": `"0123456789abcdef0123456789abcdef"`,
			"X-Amz-Server-Side-Encryption": "aws:kms"}},
		{name: "SSEC", status: 200, header: map[string]string{"ETag": `"0123456789abcdef0123456789abcdef"`,
			"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256"}},
		{name: "StorageFull", status: 507, body: s3Error("XMinioStorageFull"), wantErr: backend.ErrInsufficientStorage},
		{name: "SlowDown", status: 503, body: s3Error("SlowDown"), wantErr: backend.ErrUnavailable},
		{name: "NoSuchBucket", status: 404, body: s3Error("NoSuchBucket"), wantErr: backend.ErrUnavailable},
		{name: "InvalidName", status: 400, body: s3Error("XMinioInvalidObjectName"), wantErr: backend.ErrInvalidKey},
		{name: "NotXML", status: 502, body: "<html>bad gateway</html>", wantErr: backend.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sawSigned atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				sawSigned.Store(strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") &&
					r.Header.Get("X-Amz-Content-Sha256") == unsignedPayload && r.URL.Path == "/b/k" &&
					r.Header.Get("Content-Type") == "text/plain")
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			s, err := New(t.Context(), Options{Bucket: "b", Endpoint: srv.URL, ForcePathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"})
			if err != nil {
				t.Fatal(err)
			}
			w, err := s.Put(t.Context(), "k", strings.NewReader("abc"), backend.PutOptions{Size: 3, ContentType: "text/plain"})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Put: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("Put error = %v, want %v", err, tc.wantErr)
			}
			if !sawSigned.Load() {
				t.Errorf("the request was not a signed UNSIGNED-PAYLOAD PUT of /b/k with its Content-Type")
			}
			if got := w.MD5 != nil; got != tc.wantMD5 {
				t.Errorf("MD5 = %x, want one: %v", w.MD5, tc.wantMD5)
			}
		})
	}
}

func s3Error(code string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>m</Message></Error>`
}

// TestDirectPutExpectsContinue checks that a direct PutObject of 2 MiB or more waits for
// 100 Continue, as the SDK's does, and a smaller one does not.
func TestDirectPutExpectsContinue(t *testing.T) {
	t.Parallel()
	var expect sync.Map // size → Expect header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		expect.Store(r.ContentLength, r.Header.Get("Expect"))
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
	}))
	t.Cleanup(srv.Close)
	s, err := New(t.Context(), Options{Bucket: "b", Endpoint: srv.URL, ForcePathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for size, want := range map[int64]string{4 << 10: "", expectContinueMin - 1: "", expectContinueMin: "100-continue", 3 << 20: "100-continue"} {
		if _, err := s.Put(t.Context(), "k", newCycleReader(size), backend.PutOptions{Size: size}); err != nil {
			t.Fatalf("Put of %d bytes: %v", size, err)
		}
		if got, _ := expect.Load(size); got != want {
			t.Errorf("Put of %d bytes: Expect %q, want %q", size, got, want)
		}
	}
}

// TestOpenKeepsContentEncoding reads an upstream object stored with Content-Encoding: gzip
// (as another writer of the bucket may leave it): the blob is its stored bytes, never
// decompressed on the way (net/http does that to answers of requests without their own
// Accept-Encoding).
func TestOpenKeepsContentEncoding(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, nil)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(bytes.Repeat([]byte("compressible "), 1000))
	_ = zw.Close()
	if _, err := m.Client().PutObject(t.Context(), &s3.PutObjectInput{Bucket: &m.Bucket, Key: aws.String("gz"),
		Body: bytes.NewReader(gz.Bytes()), ContentEncoding: aws.String("gzip")}); err != nil {
		t.Fatal(err)
	}
	d := s.direct
	for _, path := range []string{"direct", "sdk"} {
		t.Run(path, func(t *testing.T) {
			s.direct = nil
			if path == "direct" {
				s.direct = d
			}
			if got := get(t, s, "gz"); got != gz.String() {
				t.Errorf("read %d bytes, want the %d stored", len(got), gz.Len())
			}
		})
	}
	s.direct = d
}
