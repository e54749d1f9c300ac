package db

import (
	"context"
	"testing"
	"time"

	"github.com/stowage/stowage/db/pgtest"
)

// The dispatcher's inserts of delivery rows analyze the table when they have added as many
// rows as it had when last analyzed (at least deliveryAnalyzeFloor), so a backlog's claims
// are planned on statistics that know it.
func TestDeliveryRowsAnalyzeTable(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, pgtest.URL(t), Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	analyses := func() int64 {
		d.deliveries.mu.Lock()
		defer d.deliveries.mu.Unlock()
		if d.deliveries.running {
			return -1
		}
		return d.deliveries.analyses
	}
	waitAnalyses := func(n int64) {
		t.Helper()
		waitFor(t, "the analysis", func() bool { return analyses() == n })
	}
	// 500 pending deliveries, as a receiver that is down leaves them.
	if _, err := d.pool.Exec(ctx, `
		with e as (insert into stowage.events (event_id, type, bucket_id, name, body)
			select gen_random_uuid(), 'ObjectCreated:Put', 'b', 'k' || g, '{}' from generate_series(1, 500) g returning id, name)
		insert into stowage.event_deliveries (event_id, target, okey) select id, 'webhook', 'b/' || name from e`); err != nil {
		t.Fatal(err)
	}
	d.noteDeliveryRows(deliveryAnalyzeFloor - 1)
	if got := analyses(); got != 0 {
		t.Fatalf("%d analyses below the floor", got)
	}
	d.noteDeliveryRows(1)
	waitAnalyses(1)
	var tuples float64
	var analyzed *time.Time
	if err := d.pool.QueryRow(ctx, `select c.reltuples, s.last_analyze from pg_class c join pg_stat_user_tables s on s.relid = c.oid
		where c.oid = 'stowage.event_deliveries'::regclass`).Scan(&tuples, &analyzed); err != nil {
		t.Fatal(err)
	}
	if tuples != 500 || analyzed == nil {
		t.Fatalf("after the analysis: %v tuples, analyzed at %v", tuples, analyzed)
	}
	// Next at as many rows again as the table had.
	d.noteDeliveryRows(499)
	if got := analyses(); got != 1 {
		t.Fatalf("%d analyses before the table doubled", got)
	}
	d.noteDeliveryRows(1)
	waitAnalyses(2)
}
