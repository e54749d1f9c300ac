package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

// TestEventsCommand lists a dead delivery and re-drives it with the CLI.
func TestEventsCommand(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	env := map[string]string{"DATABASE_URL": url, "AUTH_JWT_SECRET": harness.JWTSecret, "STOWAGE_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `with e as (insert into stowage.events (event_id, type, bucket_id, name, body, routed)
			values (gen_random_uuid(), 'ObjectCreated:Post', 'b', 'dead.txt', '{}', true) returning id)
		insert into stowage.event_deliveries (event_id, target, okey, state, attempts, last_error)
		select id, 'webhook', 'b/dead.txt', 'dead', 10, 'receiver answered 500' from e`)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"events", "dead"}, getenv, &out, &errOut); code != 0 {
		t.Fatalf("events dead: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "ObjectCreated:Post\tb/dead.txt\twebhook\t10\treceiver answered 500") {
		t.Errorf("events dead printed:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"events", "redrive", "all"}, getenv, &out, &errOut); code != 0 {
		t.Fatalf("events redrive: exit %d: %s", code, errOut.String())
	}
	var state string
	var attempts int
	if err := conn.QueryRow(ctx, `select state, attempts from stowage.event_deliveries`).Scan(&state, &attempts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "re-driven: 1") || state != "pending" || attempts != 0 {
		t.Errorf("after redrive: %q, state %s, attempts %d", out.String(), state, attempts)
	}
	if code := run([]string{"events", "bogus"}, getenv, &out, &errOut); code == 0 {
		t.Error("events bogus succeeded")
	}
}
