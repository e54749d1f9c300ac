package cdn

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/rest"
)

var testRoles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

const testSecret = "cdn-test-jwt-secret-0123456789-abcdefghij"

// purgeCall is one request the purge service received.
type purgeCall struct {
	method, path, auth, contentType, body string
}

// receiver is a purge service on loopback that records what it receives and answers
// status.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []purgeCall
	status int
}

func newReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, purgeCall{req.Method, req.URL.RequestURI(), req.Header.Get("Authorization"), req.Header.Get("Content-Type"), string(b)})
		r.mu.Unlock()
		w.WriteHeader(r.status)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) take() []purgeCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// fixture is the /cdn routes in an app configured like the server's main app: REST error
// envelope, streamed bodies.
type fixture struct {
	app     *fiber.App
	service string
	user    string
}

func newFixture(t *testing.T, endpoint, key string) *fixture {
	t.Helper()
	v, err := auth.NewVerifier(testSecret, "HS256", testRoles)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPurger(Options{Endpoint: endpoint, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	restHandler := rest.New(nil, rest.Options{Verifier: v, Roles: testRoles})
	app := fiber.New(fiber.Config{StreamRequestBody: true, DisablePreParseMultipartForm: true,
		ErrorHandler: rest.ErrorHandler(slog.New(slog.NewTextHandler(io.Discard, nil))), DisableStartupMessage: true})
	h := NewHandler(p, HandlerOptions{REST: restHandler, Tenant: "tenant-ref", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h.Register(app)
	h.Register(app.Group("/storage/v1"))
	f := &fixture{app: app}
	if f.service, err = v.Sign(map[string]any{"role": "service_role"}); err != nil {
		t.Fatal(err)
	}
	if f.user, err = v.Sign(map[string]any{"role": "authenticated", "sub": "7a1d6c1e-8a55-4a6b-a3c2-8f0f0a4a1b11"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// do sends method path with token and returns the status and body.
func (f *fixture) do(t *testing.T, method, path, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// sameJSON fails unless got and want are the same JSON value.
func sameJSON(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s: got %s, want %s", what, got, want)
	}
}

// TestPurgeForwardsEachType: each of the six purge types reaches the purge service as the
// reference sends it (POST <endpoint>/purge, JSON body, Bearer key) and the route answers
// 200 {"message":"success"}.
func TestPurgeForwardsEachType(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 200)
	f := newFixture(t, r.srv.URL+"/cdn-service/", "purge-key-123")
	for _, tc := range []struct {
		name, path, body string
	}{
		{"tenant", "/cdn", `{"type":"tenant","tenant":{"ref":"tenant-ref"}}`},
		{"tenant with a slash", "/cdn/", `{"type":"tenant","tenant":{"ref":"tenant-ref"}}`},
		{"tenant-transforms", "/cdn?transformations=true", `{"type":"tenant-transforms","tenant":{"ref":"tenant-ref"}}`},
		{"tenant, transformations=false", "/storage/v1/cdn?transformations=false", `{"type":"tenant","tenant":{"ref":"tenant-ref"}}`},
		{"bucket", "/cdn/avatars", `{"type":"bucket","tenant":{"ref":"tenant-ref"},"bucketId":"avatars"}`},
		{"bucket-transforms", "/storage/v1/cdn/avatars?transformations=true", `{"type":"bucket-transforms","tenant":{"ref":"tenant-ref"},"bucketId":"avatars"}`},
		{"object", "/cdn/avatars/folder/cat%20%26%20dog.png", `{"type":"object","tenant":{"ref":"tenant-ref"},"bucketId":"avatars","objectName":"folder/cat & dog.png"}`},
		{"object-transforms", "/storage/v1/cdn/avatars/folder/cat.png?transformations=true", `{"type":"object-transforms","tenant":{"ref":"tenant-ref"},"bucketId":"avatars","objectName":"folder/cat.png"}`},
		{"object that does not exist", "/cdn/nowhere/missing.txt", `{"type":"object","tenant":{"ref":"tenant-ref"},"bucketId":"nowhere","objectName":"missing.txt"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.do(t, "DELETE", tc.path, f.service)
			if code != 200 || body != `{"message":"success"}` {
				t.Fatalf("DELETE %s: %d %s", tc.path, code, body)
			}
			calls := r.take()
			if len(calls) != 1 {
				t.Fatalf("purge service got %d requests, want 1: %+v", len(calls), calls)
			}
			c := calls[0]
			if c.method != "POST" || c.path != "/cdn-service/purge" || c.auth != "Bearer purge-key-123" || c.contentType != "application/json" {
				t.Fatalf("purge request %+v", c)
			}
			if c.body != tc.body {
				t.Fatalf("purge body %s, want %s", c.body, tc.body)
			}
		})
	}
}

// TestPurgeWithoutKey: without CDN_PURGE_ENDPOINT_KEY no Authorization header is sent.
func TestPurgeWithoutKey(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 204)
	f := newFixture(t, r.srv.URL, "")
	if code, body := f.do(t, "DELETE", "/cdn/b", f.service); code != 200 {
		t.Fatalf("purge: %d %s", code, body)
	}
	calls := r.take()
	if len(calls) != 1 || calls[0].auth != "" || calls[0].path != "/purge" {
		t.Fatalf("purge requests %+v", calls)
	}
}

// TestPurgeRefusals: what the reference answers before (or instead of) purging, and that
// nothing reaches the purge service then.
func TestPurgeRefusals(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 200)
	f := newFixture(t, r.srv.URL, "k")
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		body                      string
	}{
		{"a user", "DELETE", "/cdn/avatars", f.user, 403,
			`{"statusCode":"403","error":"Unauthorized","code":"AccessDenied","message":"Access denied: Invalid role"}`},
		{"a user, tenant", "DELETE", "/cdn", f.user, 403,
			`{"statusCode":"403","error":"Unauthorized","code":"AccessDenied","message":"Access denied: Invalid role"}`},
		{"no token", "DELETE", "/cdn/avatars/a.png", "", 403,
			`{"statusCode":"403","error":"Unauthorized","code":"AccessDenied","message":"Access denied: JWT is not authenticated"}`},
		{"a bad token", "DELETE", "/cdn/avatars/a.png", "not-a-jwt", 403,
			`{"statusCode":"403","error":"Unauthorized","code":"AccessDenied","message":"Access denied: JWT is not authenticated"}`},
		{"transformations not a boolean", "DELETE", "/cdn/avatars?transformations=yes", f.service, 400,
			`{"statusCode":"400","error":"Error","code":"InvalidRequest","message":"querystring/transformations must be boolean"}`},
		{"transformations twice", "DELETE", "/cdn?transformations=true&transformations=true", f.service, 400,
			`{"statusCode":"400","error":"Error","code":"InvalidRequest","message":"querystring/transformations must be boolean"}`},
		{"empty key", "DELETE", "/cdn/avatars/", f.service, 400,
			`{"statusCode":"400","error":"Error","code":"InvalidRequest","message":"params/* must NOT have fewer than 1 characters"}`},
		{"another method", "GET", "/cdn/avatars", f.service, 404,
			`{"statusCode":"404","error":"Not Found","code":"InvalidRequest","message":"Route GET:/cdn/avatars not found"}`},
		{"another method, tenant", "POST", "/storage/v1/cdn", f.service, 404,
			`{"statusCode":"404","error":"Not Found","code":"InvalidRequest","message":"Route POST:/cdn not found"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.do(t, tc.method, tc.path, tc.token)
			if code != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.status)
			}
			sameJSON(t, tc.method+" "+tc.path, body, tc.body)
			if calls := r.take(); len(calls) != 0 {
				t.Fatalf("purge service got %+v", calls)
			}
		})
	}
}

// TestPurgeUnconfigured: without CDN_PURGE_ENDPOINT_URL every purge route answers the
// reference's MissingParameter (after the role check).
func TestPurgeUnconfigured(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "", "")
	const want = `{"statusCode":"400","error":"MissingParameter","code":"MissingParameter","message":"Missing Required Parameter CDN_PURGE_ENDPOINT_URL is not set"}`
	for _, p := range []string{"/cdn", "/cdn/avatars?transformations=true", "/storage/v1/cdn/avatars/a.txt"} {
		code, body := f.do(t, "DELETE", p, f.service)
		if code != 400 {
			t.Fatalf("DELETE %s: %d %s", p, code, body)
		}
		sameJSON(t, p, body, want)
	}
	if code, _ := f.do(t, "DELETE", "/cdn", f.user); code != 403 {
		t.Fatalf("a user, unconfigured: %d, want 403", code)
	}
}

// TestPurgeServiceFailing: a purge service that is down or answers an error makes the
// route answer the reference's InternalError "Error purging cache" (HTTP 500).
func TestPurgeServiceFailing(t *testing.T) {
	t.Parallel()
	const want = `{"statusCode":"500","error":"InternalError","code":"InternalError","message":"Error purging cache"}`
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more: connection refused
	failing := newReceiver(t, 503)
	for _, tc := range []struct{ name, endpoint string }{
		{"down", down},
		{"answering 503", failing.srv.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.endpoint, "k")
			code, body := f.do(t, "DELETE", "/cdn/avatars/a.png", f.service)
			if code != 500 {
				t.Fatalf("purge: %d %s, want 500", code, body)
			}
			sameJSON(t, "purge", body, want)
		})
	}
	if calls := failing.take(); len(calls) != 1 {
		t.Fatalf("failing service got %d requests, want 1 (no retry)", len(calls))
	}
}

// TestPurgeServiceHanging: a purge service that never answers is abandoned after Timeout
// (the reference's 10 s) with the same InternalError.
func TestPurgeServiceHanging(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-req.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	f := newFixture(t, hang.URL, "k")
	// The guard against a purge that never ends is go test's own -timeout.
	code, body := f.do(t, "DELETE", "/cdn", f.service)
	if code != 500 || !strings.Contains(body, "Error purging cache") {
		t.Fatalf("purge of a hanging service: %d %s", code, body)
	}
}

// TestBucketPurger: the purge of a bucket made private reaches the purge service as the
// reference's bucket purge, detached from the request; without an endpoint there is none.
func TestBucketPurger(t *testing.T) {
	t.Parallel()
	got := make(chan purgeCall, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		got <- purgeCall{req.Method, req.URL.RequestURI(), req.Header.Get("Authorization"), req.Header.Get("Content-Type"), string(b)}
	}))
	t.Cleanup(srv.Close)
	p, err := NewPurger(Options{Endpoint: srv.URL, Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.BucketPurger("tenant-ref", slog.New(slog.NewTextHandler(io.Discard, nil)))(ctx, "avatars")
	cancel()   // the request is over; the purge goes on
	c := <-got // go test's -timeout is the hang guard
	if c.path != "/purge" || c.auth != "Bearer k" || c.body != `{"type":"bucket","tenant":{"ref":"tenant-ref"},"bucketId":"avatars"}` {
		t.Fatalf("purge request %+v", c)
	}
	unconfigured, _ := NewPurger(Options{})
	if unconfigured.BucketPurger("t", slog.Default()) != nil {
		t.Fatal("an unconfigured purger returned a bucket purge")
	}
}
