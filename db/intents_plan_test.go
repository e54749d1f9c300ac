package db

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db/pgtest"
)

// TestForgetIntentsByIndex: removing intents finds them by the primary key even where the
// planner would rather read the whole table, as it does when stowage.blob_intents is a few
// live rows among many dead pages (a queue between autovacuum's visits). Here an expensive
// random page cost makes the sequential scan the cheaper plan; the table's scan counters
// show which one each removal used.
func TestForgetIntentsByIndex(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	setup, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close(ctx)
	if _, err := setup.Exec(ctx, `do $$ begin execute format('alter database %I set random_page_cost = 10000', current_database()); end $$`); err != nil {
		t.Fatal(err)
	}
	// One connection, opened after the setting: the removals and the counter reads share it.
	d, err := Open(ctx, url, Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, _ := d.Pool().Query(ctx, `explain delete from stowage.blob_intents where key = 'k'`)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if plan := strings.Join(lines, "\n"); !strings.Contains(plan, "Seq Scan") {
		t.Fatalf("setup: the planner should prefer a sequential scan here, plans %q", plan)
	}

	scans := func() (seq, idx int64) {
		t.Helper()
		// Flushes this backend's counters when the statement ends (Postgres 15).
		if _, err := d.Pool().Exec(ctx, `select pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
		if err := d.Pool().QueryRow(ctx, `select coalesce(seq_scan, 0), coalesce(idx_scan, 0) from pg_stat_user_tables
			where relid = 'stowage.blob_intents'::regclass`).Scan(&seq, &idx); err != nil {
			t.Fatal(err)
		}
		return seq, idx
	}
	expires := time.Now().Add(time.Hour)
	var keys []string
	for i := range 8 {
		keys = append(keys, fmt.Sprintf("tenant/bucket/name-%d/v", i))
	}
	for _, k := range keys {
		if err := d.InTx(ctx, Scope{Role: "service_role"}, func(tx Tx) error {
			return tx.AddIntent(ctx, k, IntentWrite, expires)
		}); err != nil {
			t.Fatal(err)
		}
	}
	seq0, idx0 := scans()
	// More than five of each, so pooled prepared statements reach their generic plans.
	for _, k := range keys[:6] {
		if err := d.ForgetIntents(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.ForgetIntents(ctx, keys[6:]...); err != nil {
		t.Fatal(err)
	}
	seq1, idx1 := scans()
	if seq1 != seq0 || idx1-idx0 < 7 {
		t.Fatalf("7 removals: %d sequential scans and %d index scans of blob_intents, want 0 and 7", seq1-seq0, idx1-idx0)
	}
	var left int
	if err := d.Pool().QueryRow(ctx, `select count(*) from stowage.blob_intents`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("intents left: %d, %v", left, err)
	}
}
