package events

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/db"
)

// TestHTTPClientPost: what a receiver gets and how its answers are read, with the fasthttp
// client (no proxy in the environment) and with net/http's.
func TestHTTPClientPost(t *testing.T) {
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(k, "")
	}
	type got struct {
		method, path, auth, idem, attempt, ctype string
		body                                     []byte
	}
	seen := make(chan got, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- got{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get(IdempotencyHeader),
			r.Header.Get("X-Stowage-Event-Attempt"), r.Header.Get("Content-Type"), b}
		switch r.URL.Path {
		case "/ok":
		case "/long":
			_, _ = w.Write(bytes.Repeat([]byte("x"), 2<<20)) // far over maxAckBody
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("  busy, try later\n"))
		case "/found":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/temporary":
			http.Redirect(w, r, "/ok", http.StatusTemporaryRedirect)
		case "/hang":
			<-release
		}
	}))
	defer srv.Close()
	defer close(release) // before Close, which waits for the hanging handlers
	d := db.Delivery{Event: db.Event{EventID: "6d1f1c1e-0000-4000-8000-000000000001"}, Attempts: 3}
	body := []byte(`{"type":"Webhook"}`)
	clients := map[string]*HTTPClient{"fasthttp": NewHTTPClient(30*time.Second, 4),
		"net/http": StdHTTPClient(&http.Client{Timeout: 30 * time.Second})}
	if clients["fasthttp"].fast == nil {
		t.Fatal("no proxy in the environment, yet NewHTTPClient did not take the fasthttp client")
	}
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			if err := c.post(t.Context(), srv.URL+"/ok", "secret-key", d, body); err != nil {
				t.Fatalf("post to a receiver answering 200: %v", err)
			}
			g := <-seen
			if g.method != http.MethodPost || g.auth != "Bearer secret-key" || g.idem != d.EventID || g.attempt != "3" ||
				g.ctype != "application/json" || !bytes.Equal(g.body, body) {
				t.Fatalf("receiver got %+v (body %s)", g, g.body)
			}
			if err := c.post(t.Context(), srv.URL+"/long", "", d, body); err != nil {
				t.Fatalf("a 200 with a 2 MiB body is an acknowledgement too: %v", err)
			}
			if g := <-seen; g.auth != "" {
				t.Fatalf("no key configured, yet Authorization %q was sent", g.auth)
			}
			err := c.post(t.Context(), srv.URL+"/fail", "", d, body)
			if err == nil || !strings.Contains(err.Error(), "receiver answered 503: busy, try later") {
				t.Fatalf("post to a receiver answering 503: %v", err)
			}
			<-seen
			// The request's context bounds a hanging receiver as the client's timeout does.
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			err = c.post(ctx, srv.URL+"/hang", "", d, body)
			cancel()
			if err == nil {
				t.Fatal("post to a receiver that never answers returned no error")
			}
			<-seen
			// A 307 keeps the POST and its body: followed. A 302 would make it a GET without
			// the event: not followed, not acknowledged.
			if err := c.post(t.Context(), srv.URL+"/temporary", "secret-key", d, body); err != nil {
				t.Fatalf("post to a receiver answering 307: %v", err)
			}
			if g := <-seen; g.path != "/temporary" {
				t.Fatalf("receiver got %s, want /temporary first", g.path)
			}
			for g := <-seen; g.path != "/ok" || g.method != http.MethodPost || !bytes.Equal(g.body, body) || g.idem != d.EventID; g = <-seen {
				if g.path != "/temporary" { // fasthttp's first try, then net/http's
					t.Fatalf("after a 307, the receiver got %s %s (body %s)", g.method, g.path, g.body)
				}
			}
			err = c.post(t.Context(), srv.URL+"/found", "", d, body)
			if err == nil || !strings.Contains(err.Error(), "receiver answered 302") {
				t.Fatalf("post to a receiver answering 302: %v", err)
			}
			if g := <-seen; g.path != "/found" {
				t.Fatalf("receiver got %s", g.path)
			}
		})
	}
	if len(seen) != 0 {
		t.Fatalf("%d requests more than were made", len(seen))
	}
}

// TestHTTPClientProxy: with a proxy in the environment, deliveries go through net/http's
// client, which honours it.
func TestHTTPClientProxy(t *testing.T) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"} {
		for _, other := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
			t.Setenv(other, "")
		}
		t.Setenv(k, "http://proxy.invalid:3128")
		if c := NewHTTPClient(time.Second, 2); c.fast != nil || c.std == nil {
			t.Fatalf("with %s set, NewHTTPClient took the fasthttp client", k)
		}
	}
}
