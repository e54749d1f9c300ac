package db

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The sweep deletes the events past retention whose deliveries are all done, oldest first
// and sweepBatch at a time, and keeps the rest: younger events, events not yet routed
// (above the router's mark), and events with a pending or dead delivery.
func TestSweepEvents(t *testing.T) {
	ctx := context.Background()
	d, _ := snapshotFixture(t)
	defer func(n int) { sweepBatch = n }(sweepBatch)
	sweepBatch = 3
	for i := range 10 {
		commitEvent(t, d, fmt.Sprintf("e%d", i))
	}
	if ids := routeIDs(t, d); len(ids) != 10 {
		t.Fatalf("routed %d events, want 10", len(ids))
	}
	commitEvent(t, d, "unrouted")
	if _, err := d.Pool().Exec(ctx, `update stowage.events set created_at = now() - interval '2 hours' where name <> 'e9';
		insert into stowage.event_deliveries (event_id, target, okey, state)
			select id, 't', 'b/' || name, case name when 'e6' then 'delivered' when 'e7' then 'pending' else 'dead' end
			from stowage.events where name in ('e6', 'e7', 'e8')`); err != nil {
		t.Fatal(err)
	}

	// One statement deletes no more than its batch (tried in a transaction rolled back).
	tx, err := d.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := tx.Exec(ctx, sweepSQL, float64(time.Hour.Milliseconds()), 3)
	if rerr := tx.Rollback(ctx); err != nil || rerr != nil || tag.RowsAffected() != 3 {
		t.Fatalf("one sweep statement deleted %d (%v, %v), want its batch of 3", tag.RowsAffected(), err, rerr)
	}

	// Batches of 3, 3 and 1: all seven of e0–e6 (e6's delivery was delivered).
	n, err := d.SweepEvents(ctx, Scope{Role: "service_role"}, time.Hour)
	if err != nil || n != 7 {
		t.Fatalf("swept %d (%v), want 7", n, err)
	}
	rows, err := d.Pool().Query(ctx, `select name from stowage.events order by id`)
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"e7", "e8", "e9", "unrouted"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	if n, err := d.SweepEvents(ctx, Scope{Role: "service_role"}, time.Hour); err != nil || n != 0 {
		t.Fatalf("second sweep deleted %d (%v), want 0", n, err)
	}
}

// One call sweeps at most sweepBatches batches and leaves the rest to the next: the
// dispatcher sweeps between two looks at the outbox, which a sweep of millions would hold
// up for minutes.
func TestSweepStopsAfterItsBatches(t *testing.T) {
	ctx := context.Background()
	d, _ := snapshotFixture(t)
	defer func(n, m int) { sweepBatch, sweepBatches = n, m }(sweepBatch, sweepBatches)
	sweepBatch, sweepBatches = 3, 2
	for i := range 7 {
		commitEvent(t, d, fmt.Sprintf("e%d", i))
	}
	if ids := routeIDs(t, d); len(ids) != 7 {
		t.Fatalf("routed %d events, want 7", len(ids))
	}
	if _, err := d.Pool().Exec(ctx, `update stowage.events set created_at = now() - interval '2 hours'`); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{6, 1, 0} {
		if n, err := d.SweepEvents(ctx, Scope{Role: "service_role"}, time.Hour); err != nil || n != want {
			t.Fatalf("sweep %d deleted %d (%v), want %d", i+1, n, err, want)
		}
	}
}

// The gauge's count of unrouted events and the retention sweep read the outbox through its
// indexes, not whole, however large it has grown. (Half the rows are rewritten so that
// their order on disk no longer follows their ids, as in an outbox that retention has
// swept for a while: then "id above the mark" alone was planned as a sequential scan.)
func TestHousekeepingStaysInIndexes(t *testing.T) {
	ctx := context.Background()
	d, _ := snapshotFixture(t)
	if _, err := d.Pool().Exec(ctx, `insert into stowage.events (event_id, type, bucket_id, name, body)
			select gen_random_uuid(), 'ObjectCreated:Put', 'b', 'k' || g, '{}' from generate_series(1, 200000) g;
		update stowage.events set name = name || '.' where id % 2 = 0;
		update stowage.event_route_mark set routed_to = (select max(id) - 100 from stowage.events);
		analyze stowage.events`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		what, sql string
		args      []any
	}{
		{"the count of unrouted events", countUnroutedSQL, nil},
		{"a sweep of 20,000", sweepSQL, []any{float64(0), 20000}},
	} {
		rows, err := d.Pool().Query(ctx, `explain `+q.sql, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(plan, "\n"); strings.Contains(p, "Seq Scan on events") || !strings.Contains(p, "events_pkey") {
			t.Fatalf("%s scans the outbox instead of its indexes:\n%s", q.what, p)
		}
	}
	c, err := d.CountEvents(ctx, Scope{Role: "service_role"})
	if err != nil || c.Unrouted != 100 {
		t.Fatalf("unrouted %d (%v), want 100", c.Unrouted, err)
	}
}
