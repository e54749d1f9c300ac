package gateway

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/migrations"
	"github.com/stowage/stowage/db/pgcluster"
	"github.com/stowage/stowage/gateway/backend/filebackend"
)

// BenchmarkPutNewKeyCounts measures what a new-key PutObject (4 KiB, service role, upsert,
// file store with fsync) costs in counts that do not depend on the machine's load
// (docs/engine.md, "Where a small write's CPU goes"):
//
//   - wal-syncs/op, wal-writes/op: pg_stat_wal deltas (WAL fdatasyncs and writes), on a
//     durable cluster of its own (fsync and synchronous_commit on, unlike pgtest's);
//   - custom-plans/op, generic-plans/op: plans Postgres built for the connection's prepared
//     statements (pg_prepared_statements; one pooled connection);
//   - allocations: run with -benchmem.
//
// Syscalls per op of the file store: scripts/write-counts.sh runs this under strace.
// It asserts nothing. Run: go test -run '^$' -bench PutNewKeyCounts -benchmem ./gateway
func BenchmarkPutNewKeyCounts(b *testing.B) {
	ctx := context.Background()
	cl, err := pgcluster.Start(ctx, pgcluster.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Stop(context.WithoutCancel(ctx))
	if err := cl.CreateDatabase(ctx, "bench", ""); err != nil {
		b.Fatal(err)
	}
	d, err := db.Open(ctx, cl.URL("bench"), db.Options{MaxConns: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := migrations.Apply(ctx, d.Pool(), migrations.Options{InstallRoles: true}); err != nil {
		b.Fatal(err)
	}
	store, err := filebackend.New(b.TempDir(), filebackend.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := New(d, store, Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute, CacheTTL: time.Hour})
	if _, err := e.CreateBucket(ctx, service(), CreateBucket{ID: "counts", FileSizeLimit: NoLimit}); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 4096)
	n := 0
	put := func() {
		n++
		_, err := e.PutObject(ctx, service(), PutObject{Bucket: "counts", Key: fmt.Sprintf("k/%08d", n),
			Size: int64(len(body)), Body: bytes.NewReader(body), Upsert: true})
		if err != nil {
			b.Fatal(err)
		}
	}
	type snap struct{ walSync, walWrite, custom, generic int64 }
	read := func() (s snap) {
		if err := d.Pool().QueryRow(ctx, `select wal_sync, wal_write from pg_stat_wal`).Scan(&s.walSync, &s.walWrite); err != nil {
			b.Fatal(err)
		}
		if err := d.Pool().QueryRow(ctx, `select coalesce(sum(custom_plans), 0)::int8, coalesce(sum(generic_plans), 0)::int8
			from pg_prepared_statements`).Scan(&s.custom, &s.generic); err != nil {
			b.Fatal(err)
		}
		return s
	}
	// Warm up past Postgres's five custom plans per prepared statement.
	for range 10 {
		put()
	}
	before := read()
	b.ResetTimer()
	for range b.N {
		put()
	}
	b.StopTimer()
	after := read()
	per := func(a, z int64) float64 { return float64(z-a) / float64(b.N) }
	if testing.Verbose() {
		rows, err := d.Pool().Query(ctx, `select custom_plans, generic_plans, left(regexp_replace(statement, '\s+', ' ', 'g'), 120)
			from pg_prepared_statements where custom_plans > 0 order by custom_plans desc`)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var c, g int64
			var s string
			if err := rows.Scan(&c, &g, &s); err != nil {
				b.Fatal(err)
			}
			b.Logf("custom %d generic %d: %s", c, g, s)
		}
		rows.Close()
	}
	b.ReportMetric(per(before.walSync, after.walSync), "wal-syncs/op")
	b.ReportMetric(per(before.walWrite, after.walWrite), "wal-writes/op")
	b.ReportMetric(per(before.custom, after.custom), "custom-plans/op")
	b.ReportMetric(per(before.generic, after.generic), "generic-plans/op")
}
