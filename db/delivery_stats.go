package db

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Deliveries are deleted once delivered, so stowage.event_deliveries is mostly empty, and
// autovacuum may not have analyzed it (or last did so while it was empty) when a receiver
// goes down and a backlog builds up in minutes. Planned on such statistics, the claim's
// per-key probes scanned every pending delivery of the target once per candidate:
// quadratic in the backlog (0.8 s per claim with 1,675 pending, Postgres busy a core
// while uploads went on; 11.5 ms once analyzed). So the dispatcher's own inserts of rows
// analyze the table each time they have added as many rows as it had at its last analysis
// (at least deliveryAnalyzeFloor): about log2 of the backlog's size analyses in all.
const deliveryAnalyzeFloor = 200

// deliveryStats counts the delivery rows inserted since the table was last analyzed.
type deliveryStats struct {
	mu        sync.Mutex
	inserted  int64 // rows inserted since the last analysis
	threshold int64 // rows to insert before the next one
	running   bool
	analyses  int64 // analyses run (tests)
}

// noteDeliveryRows records that n delivery rows were inserted, and analyzes the table in
// the background when they reach the threshold.
func (d *DB) noteDeliveryRows(n int) {
	if n <= 0 {
		return
	}
	st := &d.deliveries
	st.mu.Lock()
	st.inserted += int64(n)
	start := !st.running && st.inserted >= max(st.threshold, deliveryAnalyzeFloor)
	if start {
		st.running, st.inserted = true, 0
	}
	st.mu.Unlock()
	if start {
		go d.analyzeDeliveries()
	}
}

func (d *DB) analyzeDeliveries() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rows float64
	_, err := d.pool.Exec(ctx, `analyze stowage.event_deliveries`)
	if err == nil {
		err = d.pool.QueryRow(ctx, `select reltuples from pg_class where oid = 'stowage.event_deliveries'::regclass`).Scan(&rows)
	}
	if err != nil {
		slog.Warn("events: analyze of stowage.event_deliveries", "error", Classify(err))
	}
	st := &d.deliveries
	st.mu.Lock()
	st.running, st.threshold = false, int64(rows)
	st.analyses++
	st.mu.Unlock()
}
