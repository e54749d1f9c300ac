package rest

import (
	"context"
	"testing"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
)

// TestDatabaseTimeoutAnswers544: a statement that outlives DATABASE_STATEMENT_TIMEOUT
// (SQLSTATE 57014) and a database behind a partition (no answer at all) get the
// reference's answer, HTTP 544 DatabaseTimeout, on GET and HEAD alike; once the partition
// heals the same request is served.
func TestDatabaseTimeoutAnswers544(t *testing.T) {
	var proxy *pgtest.Proxy
	f := newFixture(t, fixtureOptions{
		engineURL: func(url string) string {
			var proxied string
			proxy, proxied = pgtest.NewProxy(t, url)
			return proxied
		},
		db: db.Options{MaxConns: 4, StatementTimeout: 300 * time.Millisecond, ConnectTimeout: 300 * time.Millisecond},
	})
	want := envelope{544, "544", "DatabaseTimeout", "The connection to the database timed out"}
	// served repeats a request while it times out (at most 30 times): with timeouts this
	// short a loaded machine can make a healthy statement time out too.
	served := func(method, path string, body any) reply {
		t.Helper()
		var r reply
		for range 30 {
			if r = f.do(method, path, f.service, body); r.status != 544 {
				break
			}
		}
		return r
	}
	if r := served("POST", "/bucket", map[string]any{"name": "hung"}); r.status != 200 {
		t.Fatalf("create bucket: %d %s", r.status, r.body)
	}

	t.Run("statement timeout", func(t *testing.T) {
		f.t = t
		ctx := context.Background()
		for _, q := range []string{
			`create function public.slow_bucket() returns trigger language plpgsql security definer as $$
			begin perform pg_sleep(60); return new; end $$`,
			`create trigger slow_bucket before insert on storage.buckets
			for each row when (new.id like 'slow%') execute function public.slow_bucket()`,
		} {
			if _, err := f.pool.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		r := f.do("POST", "/bucket", f.service, map[string]any{"name": "slow-1"})
		f.checkError(r, want)
		if e := r.json(t); e["error"] != "DatabaseTimeout" {
			t.Fatalf("error tag %v", e["error"])
		}
		if r.header.Get("Retry-After") == "" {
			t.Error("no Retry-After on the 544")
		}
	})

	t.Run("partition", func(t *testing.T) {
		f.t = t
		proxy.Hang()
		f.checkError(f.do("GET", "/bucket/hung", f.service, nil), want)
		r := f.do("HEAD", "/object/hung/a.txt", f.service, nil)
		if r.status != 544 || len(r.body) != 0 {
			t.Fatalf("HEAD across a partition: %d %q, want 544 without a body", r.status, r.body)
		}
		proxy.Restore()
		if r := served("GET", "/bucket/hung", nil); r.status != 200 {
			t.Fatalf("GET after the partition healed: %d %s", r.status, r.body)
		}
	})
}
