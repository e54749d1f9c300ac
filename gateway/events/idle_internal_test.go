package events

import (
	"context"
	"testing"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
)

// A target whose claim found nothing due is not claimed for again until Poll has passed or
// an outcome of its deliveries was recorded (which may let the next delivery of a key go);
// Drain claims regardless.
func TestIdleTargetIsNotClaimedUntilOutcome(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, pgtest.URL(t), db.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// A delivery waiting for its retry, as a receiver that is down leaves it, its event
	// routed: the steps below only claim (a fast batch's outcome would end the idle time).
	if _, err := d.Pool().Exec(ctx, `
		with e as (insert into stowage.events (event_id, type, bucket_id, name, body)
			values (gen_random_uuid(), 'ObjectCreated:Put', 'b', 'k', '{}') returning id)
		insert into stowage.event_deliveries (event_id, target, okey, attempts, next_at)
			select id, 'webhook', 'b/k', 1, now() + interval '1 hour' from e;
		update stowage.event_route_mark set routed_to = (select max(id) from stowage.events)`); err != nil {
		t.Fatal(err)
	}
	disp := New(Options{DB: d, Scope: db.Scope{Role: "service_role"}, Poll: time.Hour,
		Targets: []Target{&Webhook{URL: "http://127.0.0.1:9/down", Client: NewHTTPClient(time.Second, 1)}}})
	runCtx, cancel := context.WithCancel(ctx)
	recorded := make(chan struct{})
	go func() { disp.record(runCtx); close(recorded) }()
	defer func() { cancel(); disp.wg.Wait(); close(disp.outcomes); <-recorded }()
	attempts := func() int {
		t.Helper()
		var n int
		if err := d.Pool().QueryRow(ctx, `select attempts from stowage.event_deliveries`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	disp.step(runCtx, true)
	if got := disp.claimsNow(time.Now(), true); len(got) != 0 {
		t.Fatalf("claims right after a claim that found nothing: %+v", got)
	}
	if got := disp.claimsNow(time.Now(), false); len(got) != 1 {
		t.Fatalf("claims without skipping idle targets: %+v", got)
	}
	if got := disp.claimsNow(time.Now().Add(time.Hour+time.Second), true); len(got) != 1 {
		t.Fatalf("claims once Poll has passed: %+v", got)
	}
	// Due now, but the target is idle: Run's step leaves it.
	if _, err := d.Pool().Exec(ctx, `update stowage.event_deliveries set next_at = now()`); err != nil {
		t.Fatal(err)
	}
	disp.step(runCtx, true)
	if n := attempts(); n != 1 {
		t.Fatalf("an idle target's delivery was claimed: attempts %d", n)
	}
	// An outcome recorded for the target ends its idle time: the next step claims.
	disp.clearIdle("webhook")
	disp.step(runCtx, true)
	if n := attempts(); n != 2 {
		t.Fatalf("after an outcome: attempts %d, want 2", n)
	}
}
