package server

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend/filebackend"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// records is a slog handler that keeps every record, for tests about what gets logged.
type records struct {
	mu   sync.Mutex
	list []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// take returns the records so far and forgets them.
func (r *records) take() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.list
	r.list = nil
	return out
}

// TestStatusLogsStateChanges polls /status through an outage (a real database behind a
// proxy the test cuts): the first failed poll logs a warning with the cause, the polls
// after it log nothing, the first successful poll logs the recovery once.
func TestStatusLogsStateChanges(t *testing.T) {
	ctx := context.Background()
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	d, err := db.Open(ctx, dbURL, db.Options{MaxConns: 2, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	store, err := filebackend.New(t.TempDir(), filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	e := gateway.New(d, store, gateway.Options{Roles: auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}})
	logs := &records{}
	s := newServer(e, Options{Logger: slog.New(logs)})
	app := s.newApp(nil)
	app.Get("/status", s.status)

	poll := func(want int) {
		t.Helper()
		resp, err := app.Test(httptest.NewRequest("GET", "/status", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("/status = %d, want %d", resp.StatusCode, want)
		}
	}
	statusLogs := func() []slog.Record {
		var out []slog.Record
		for _, r := range logs.take() {
			if r.Message != "request" { // the access log's line of every request
				out = append(out, r)
			}
		}
		return out
	}
	wantOne := func(phase string, level slog.Level, withErr bool) {
		t.Helper()
		got := statusLogs()
		if len(got) != 1 {
			for _, r := range got {
				t.Logf("%s %s", r.Level, r.Message)
			}
			t.Fatalf("%s: %d log lines, want 1", phase, len(got))
		}
		hasErr := false
		got[0].Attrs(func(a slog.Attr) bool {
			hasErr = hasErr || (a.Key == "err" && a.Value.String() != "")
			return true
		})
		if got[0].Level != level || hasErr != withErr {
			t.Fatalf("%s: %s %q (err attribute: %v), want level %s, err attribute %v", phase, got[0].Level, got[0].Message, hasErr, level, withErr)
		}
	}
	wantNone := func(phase string) {
		t.Helper()
		if got := statusLogs(); len(got) != 0 {
			t.Fatalf("%s: %d log lines (first: %s %q), want none", phase, len(got), got[0].Level, got[0].Message)
		}
	}

	for range 3 {
		poll(200)
	}
	wantNone("healthy")

	proxy.Cut()
	poll(503)
	wantOne("outage begins", slog.LevelWarn, true)
	for range 5 {
		poll(503)
	}
	wantNone("outage goes on")

	proxy.Restore()
	poll(200)
	wantOne("recovery", slog.LevelInfo, false)
	for range 3 {
		poll(200)
	}
	wantNone("healthy again")

	proxy.Cut()
	poll(503)
	wantOne("second outage", slog.LevelWarn, true)
}
