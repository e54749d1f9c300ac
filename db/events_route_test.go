package db

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// routeIDs routes what is routable now and returns the ids of the events routed.
func routeIDs(t *testing.T, d *DB) []int64 {
	t.Helper()
	var ids []int64
	if _, err := d.RouteEvents(context.Background(), Scope{Role: "service_role"}, 100,
		func(_ context.Context, _ Tx, evs []Event) ([]Delivery, error) {
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			return nil, nil
		}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func testEvent(name string) Event {
	return Event{EventID: uuid.NewString(), Type: "ObjectCreated:Put", BucketID: "b", Name: name, Body: []byte(`{}`)}
}

// An event whose transaction took its id before a later one committed is routed once it
// commits, although the router has seen the later id meanwhile: the router routes only up
// to an id below which every writer that could still commit has ended. Routing by "the
// highest id seen" alone would skip it for good. The router never waits for the writer
// (it takes no lock): were it to, these looks would not return while the writer is open.
func TestRouteMarkWaitsForEarlierIDs(t *testing.T) {
	ctx := context.Background()
	d, other := snapshotFixture(t)
	// The earlier transaction takes its id, then stays open; later ones commit higher ids.
	early := openEventTx(t, other, "early")
	commitEvent(t, d, "late1")
	for range 2 {
		if ids := routeIDs(t, d); len(ids) != 0 {
			t.Fatalf("routed %v while an earlier id's transaction was open", ids)
		}
	}
	commitEvent(t, d, "late2")
	if ids := routeIDs(t, d); len(ids) != 0 {
		t.Fatalf("routed %v while an earlier id's transaction was open", ids)
	}
	if !d.RoutingHeldBack() {
		t.Fatal("RoutingHeldBack false with committed events waiting for an open writer")
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := routeIDs(t, d); len(ids) != 3 || ids[0] >= ids[1] || ids[1] >= ids[2] {
		t.Fatalf("routed %v, want the early event and both later ones, in id order", ids)
	}
	if more := routeIDs(t, d); len(more) != 0 {
		t.Fatalf("routed again: %v", more)
	}
	if d.RoutingHeldBack() {
		t.Fatal("RoutingHeldBack true with everything routed")
	}
	c, err := d.CountEvents(ctx, Scope{Role: "service_role"})
	if err != nil || c.Unrouted != 0 {
		t.Fatalf("unrouted %d (%v), want 0", c.Unrouted, err)
	}
	if n := advisoryLocks(t, other); n != 0 {
		t.Fatalf("%d advisory locks outlived the transactions", n)
	}
}

// Writers that overlap without end (one is always open) do not hold routing back for good:
// what was committed when a look saw writers open is routed once those writers have ended,
// whoever has begun since.
func TestRouteMarkOverlappingWriters(t *testing.T) {
	ctx := context.Background()
	d, other := snapshotFixture(t)
	third, err := pgx.Connect(ctx, d.Pool().Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close(ctx)
	a := openEventTx(t, other, "a")
	commitEvent(t, d, "c")
	if ids := routeIDs(t, d); len(ids) != 0 {
		t.Fatalf("routed %v with a open", ids)
	}
	b := openEventTx(t, third, "b")
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// b is open, but began after the look that saw a: a and c are final.
	if ids := routeIDs(t, d); len(ids) != 2 {
		t.Fatalf("routed %v with b open, want a's and c's events", ids)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := routeIDs(t, d); len(ids) != 1 {
		t.Fatalf("routed %v after b committed, want b's event", ids)
	}
	// A writer that rolls back leaves a gap, and routing goes on past it.
	rolled := openEventTx(t, other, "rolled back")
	if err := rolled.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	commitEvent(t, d, "after")
	if ids := routeIDs(t, d); len(ids) != 1 {
		t.Fatalf("routed %v after a rolled-back writer, want the one committed after it", ids)
	}
}

// commitEvent records an event of name in a transaction of its own, committed.
func commitEvent(t *testing.T, d *DB, name string) {
	t.Helper()
	if err := d.InTx(context.Background(), Scope{Role: "service_role"}, func(tx Tx) error {
		return tx.AddEvents(context.Background(), []Event{testEvent(name)})
	}); err != nil {
		t.Fatal(err)
	}
}

// openEventTx begins a transaction on conn that records an event of name as writers do
// (the shared events lock, then the insert) and leaves it open; the test ends it or it is
// rolled back at cleanup.
func openEventTx(t *testing.T, conn *pgx.Conn, name string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	b := &pgx.Batch{}
	queueAddEvents(b, []Event{testEvent(name)})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	return tx
}

// fastRoute routes with owner (a fast batch when nothing holds a delivery back) to one
// target, "t", with a lease of lease.
func fastRoute(t *testing.T, d *DB, owner string, lease time.Duration) (int, *FastBatch) {
	t.Helper()
	n, fb, _, err := d.RouteAndClaim(context.Background(), Scope{Role: "service_role"}, 100,
		func(_ context.Context, _ Tx, evs []Event) ([]Delivery, error) {
			out := make([]Delivery, len(evs))
			for i, e := range evs {
				out[i] = Delivery{Event: e, Target: "t"}
			}
			return out, nil
		}, nil, lease, owner)
	if err != nil {
		t.Fatal(err)
	}
	return n, fb
}

// A fast batch holds routing back while its lease runs; once it has run out, the next
// router routes the same events again (its owner is presumed dead), and the first owner's
// late record changes nothing. The taker's record leaves rows only for what did not succeed
// and moves the mark past the batch.
func TestFastBatchLease(t *testing.T) {
	ctx := context.Background()
	d, _ := snapshotFixture(t)
	s := Scope{Role: "service_role"}
	if err := d.InTx(ctx, s, func(tx Tx) error {
		return tx.AddEvents(ctx, []Event{testEvent("a"), testEvent("b"), testEvent("a")})
	}); err != nil {
		t.Fatal(err)
	}
	n, first := fastRoute(t, d, "A", 300*time.Millisecond)
	if n != 3 || first == nil || len(first.Chains) != 2 || len(first.Chains[0]) != 2 || len(first.Chains[1]) != 1 {
		t.Fatalf("routed %d as %+v, want 3 events in 2 chains (a, a) and (b)", n, first)
	}
	if first.Chains[0][0].ID >= first.Chains[0][1].ID {
		t.Fatalf("chain a out of order: %d, %d", first.Chains[0][0].ID, first.Chains[0][1].ID)
	}
	if n, fb := fastRoute(t, d, "B", time.Minute); n != 0 || fb != nil {
		t.Fatalf("routed %d while A's lease runs", n)
	}
	for { // until A's lease has run out (a state of the database, not a sleep)
		var over bool
		if err := d.Pool().QueryRow(ctx, `select lease_until < now() from stowage.event_route_mark`).Scan(&over); err != nil {
			t.Fatal(err)
		}
		if over {
			break
		}
	}
	n, taken := fastRoute(t, d, "B", time.Minute)
	if n != 3 || taken == nil || len(taken.Chains) != 2 {
		t.Fatalf("after A's lease: routed %d as %+v, want the same 3 events", n, taken)
	}
	flat := func(fb *FastBatch) []Delivery {
		var out []Delivery
		for _, c := range fb.Chains {
			out = append(out, c...)
		}
		return out
	}
	// A comes back and records failures: nothing is written, B owns the batch now.
	ds := flat(first)
	failed := make([]DeliveryOutcome, len(ds))
	for i := range failed {
		failed[i] = DeliveryOutcome{RetryIn: time.Hour, Error: "late"}
	}
	if err := d.FinishFast(ctx, s, first, ds, failed); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := d.Pool().QueryRow(ctx, `select count(*) from stowage.event_deliveries`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows (%v) after the late record of a batch taken over, want 0", rows, err)
	}
	// B: the first of chain a fails (its second was not attempted), b succeeds.
	ds = flat(taken)
	outs := []DeliveryOutcome{{RetryIn: time.Hour, Error: "500"}, {Released: true}, {Delivered: true}}
	if err := d.FinishFast(ctx, s, taken, ds, outs); err != nil {
		t.Fatal(err)
	}
	type row struct {
		id       int64
		attempts int
		due      bool
	}
	r, _ := d.Pool().Query(ctx, `select event_id, attempts, next_at <= now() from stowage.event_deliveries order by event_id`)
	got, err := pgx.CollectRows(r, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.attempts, &x.due)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{ds[0].ID, 1, false}, {ds[1].ID, 0, true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	var routedTo int64
	var leased bool
	if err := d.Pool().QueryRow(ctx, `select routed_to, lease_owner is not null from stowage.event_route_mark`).Scan(&routedTo, &leased); err != nil {
		t.Fatal(err)
	}
	if routedTo != taken.LeasedTo || leased {
		t.Fatalf("mark %d (leased: %v), want %d and no lease", routedTo, leased, taken.LeasedTo)
	}
	// The rows now hold the next deliveries of key a back: they go as rows, in order.
	if err := d.InTx(ctx, s, func(tx Tx) error { return tx.AddEvents(ctx, []Event{testEvent("a")}) }); err != nil {
		t.Fatal(err)
	}
	if n, fb := fastRoute(t, d, "B", time.Minute); n != 1 || fb != nil {
		t.Fatalf("routed %d as %+v, want 1 event held back by a's rows", n, fb)
	}
}

// The dispatcher's transactions commit asynchronously and take generic plans at once; both
// settings are the transaction's own, so the pooled connection forgets them.
func TestDispatchTxSettings(t *testing.T) {
	ctx := context.Background()
	d, _ := snapshotFixture(t)
	read := func(q func(sql string) pgx.Row) (plan, commit string) {
		t.Helper()
		if err := q(`select current_setting('plan_cache_mode'), current_setting('synchronous_commit')`).Scan(&plan, &commit); err != nil {
			t.Fatal(err)
		}
		return plan, commit
	}
	defPlan, defCommit := read(func(sql string) pgx.Row { return d.Pool().QueryRow(ctx, sql) })
	var plan, commit string
	if err := d.inDispatchTx(ctx, Scope{Role: "service_role"}, func(tx Tx) error {
		plan, commit = read(func(sql string) pgx.Row { return tx.tx.QueryRow(ctx, sql) })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if plan != "force_generic_plan" || commit != "off" {
		t.Fatalf("in a dispatcher transaction: plan_cache_mode %s, synchronous_commit %s", plan, commit)
	}
	// Two reads: with MaxConns 2 the pool may hand out either connection, the one the
	// dispatcher transaction used included. (The test cluster's synchronous_commit may be
	// off already.)
	for range 2 {
		if plan, commit := read(func(sql string) pgx.Row { return d.Pool().QueryRow(ctx, sql) }); plan != defPlan || commit != defCommit {
			t.Fatalf("after it, a pooled connection has plan_cache_mode %s, synchronous_commit %s; want %s, %s",
				plan, commit, defPlan, defCommit)
		}
	}
}

// The claim's probes for earlier pending deliveries stay probes (one index lookup per
// candidate), whatever the table's statistics say: as anti-joins they made a claim read
// every pending delivery of the target once per candidate, quadratic in a backlog. The
// dispatcher plans it generically (inDispatchTx), so that is the plan checked.
func TestClaimProbesStayProbes(t *testing.T) {
	ctx := context.Background()
	d, _ := snapshotFixture(t)
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `analyze stowage.event_deliveries`); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `set local plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `prepare claim_plan(text, int, float8) as `+claimSQL); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `explain execute claim_plan('webhook', 16, 1000)`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var subplans int
	for _, line := range plan {
		if strings.Contains(line, "Anti Join") {
			t.Fatalf("the claim joins instead of probing:\n%s", strings.Join(plan, "\n"))
		}
		if strings.Contains(line, "SubPlan") && !strings.Contains(line, "(SubPlan") {
			subplans++
		}
	}
	if subplans != 3 {
		t.Fatalf("%d probes in the claim's plan, want 3:\n%s", subplans, strings.Join(plan, "\n"))
	}
}
