package events_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/events"
)

// TestDrainDeliversWhatIsDueThenReturns: Drain (an outbox no dispatcher runs for, as a
// multi-tenant gateway's sweep drains a tenant without a live stack) routes every event,
// delivers every delivery that is due (later events of a key after the earlier ones were
// acknowledged, in order), and returns on its own; a delivery that failed and backs off is
// left pending, and a later Drain delivers it once due. EventsDue tells both states apart.
func TestDrainDeliversWhatIsDueThenReturns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, func(n int, r receipt) int {
		if objectName(r) == "bad" && n == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e.bucket(t, "dr")
	for i := range 24 {
		e.put(t, "dr", fmt.Sprintf("k%d", i%4), fmt.Sprint(i))
	}
	e.put(t, "dr", "bad", "x")
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if due, err := e.db.EventsDue(ctx, serviceScope); err != nil || !due {
		t.Fatalf("EventsDue before draining: %v, %v; want true", due, err)
	}
	opts := fastOptions(e, webhook(rc))
	opts.Batch, opts.InFlight = 5, 3                           // several steps, some limited
	opts.BackoffBase, opts.BackoffMax = time.Hour, 2*time.Hour // the failed one is not due again
	events.New(opts).Drain(ctx)
	if ctx.Err() != nil {
		t.Fatalf("Drain did not return within %s", hangGuard)
	}
	ids := e.eventIDs(t) // Bucket:Created, 24 puts, "bad"
	acked := map[string]int{}
	for _, r := range rc.acked() {
		acked[r.id]++
	}
	if len(acked) != len(ids)-1 {
		t.Errorf("after the first Drain %d of %d events acknowledged, want all but the failed one", len(acked), len(ids))
	}
	if got := e.pending(t); got != 1 {
		t.Errorf("after the first Drain %d deliveries pending, want 1 (backing off)", got)
	}
	if due, err := e.db.EventsDue(ctx, serviceScope); err != nil || due {
		t.Errorf("EventsDue with only a delivery backing off: %v, %v; want false", due, err)
	}
	// Its backoff has passed.
	if _, err := e.db.Pool().Exec(ctx, `update stowage.event_deliveries set next_at = now()`); err != nil {
		t.Fatal(err)
	}
	if due, err := e.db.EventsDue(ctx, serviceScope); err != nil || !due {
		t.Fatalf("EventsDue with a retry due: %v, %v; want true", due, err)
	}
	events.New(opts).Drain(ctx)
	if ctx.Err() != nil {
		t.Fatalf("second Drain did not return within %s", hangGuard)
	}
	if got := e.pending(t); got != 0 {
		t.Errorf("after the second Drain %d deliveries pending, want 0", got)
	}
	for _, r := range rc.acked() {
		acked[r.id]++
	}
	if _, ok := acked[ids[len(ids)-1]]; !ok {
		t.Error("the failed delivery was not acknowledged by the second Drain")
	}
}

// TestEventsDueWithoutOutbox: a database never migrated (a tenant not used yet) has no
// outbox and so nothing due; asking is not an error.
func TestEventsDueWithoutOutbox(t *testing.T) {
	t.Parallel()
	d, err := db.Open(context.Background(), pgtest.EmptyURL(t), db.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	due, err := d.EventsDue(context.Background(), serviceScope)
	if err != nil || due {
		t.Fatalf("EventsDue on a database without the outbox: %v, %v; want false, nil", due, err)
	}
}

// TestDrainWaitsForWriters: events committed after an earlier writer took its id cannot be
// routed while that writer is under way; Drain looks again until it has ended rather than
// return with them unrouted.
func TestDrainWaitsForWriters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, nil)
	e.bucket(t, "dw")
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	// A writer recording an event as the engine's commits do (db's eventsWriteLock, shared,
	// then the insert), left open.
	conn, err := pgx.Connect(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	open, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = open.Rollback(context.Background()) }()
	if _, err := open.Exec(ctx, `select pg_advisory_xact_lock_shared($1)`, int64(0x53746f7745764d6b)); err != nil {
		t.Fatal(err)
	}
	if _, err := open.Exec(ctx, `insert into stowage.events (event_id, type, bucket_id, name, body)
		values (gen_random_uuid(), 'ObjectCreated:Put', 'dw', 'open', '{}')`); err != nil {
		t.Fatal(err)
	}
	e.put(t, "dw", "later", "x")
	drained := make(chan struct{})
	go func() { events.New(fastOptions(e, webhook(rc))).Drain(ctx); close(drained) }()
	waitFor(t, "a look held back by the open writer", e.db.RoutingHeldBack)
	select {
	case <-drained:
		t.Fatal("Drain returned while committed events were held back")
	default:
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-drained
	if ctx.Err() != nil {
		t.Fatalf("Drain did not return within %s", hangGuard)
	}
	ids := e.eventIDs(t) // Bucket:Created, the open writer's, the later put's
	acked := map[string]bool{}
	for _, r := range rc.acked() {
		acked[r.id] = true
	}
	if len(ids) != 3 || len(acked) != 3 {
		t.Fatalf("%d events, %d acknowledged; want 3 and 3", len(ids), len(acked))
	}
	if got := e.pending(t); got != 0 {
		t.Fatalf("%d pending after Drain, want 0", got)
	}
}
