package db

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db/pgcluster"
)

// BenchmarkAddEventsLargeOutbox records one event per transaction, as an upload's commit
// does (QueueAddEvents sent with COMMIT), from parallel writers into an outbox that already
// holds STOWAGE_BENCH_OUTBOX_ROWS events (default 2,000,000: half an hour at 1,000 uploads/s,
// where the default retention keeps a day) with random (version 4) event ids, as before
// event ids were time-ordered. It runs on a cluster of its own with the server's durability
// settings (fsync, full_page_writes: the throw-away test cluster has neither), each case
// starting after a CHECKPOINT, and reports the WAL each event wrote (wal-B/op) and the
// full-page images among it (fpi/op): figures of the schema, not of the machine's speed.
// "random-ids" records events with version 4 UUIDs as event ids, "time-ordered-ids" with
// version 7 (the engine's, gateway/outbox.go).
func BenchmarkAddEventsLargeOutbox(b *testing.B) {
	rows := 2_000_000
	if v := os.Getenv("STOWAGE_BENCH_OUTBOX_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("STOWAGE_BENCH_OUTBOX_ROWS: %v", err)
		}
		rows = n
	}
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Stop(ctx) }()
	url := c.URL("postgres")
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if err := Migrate(ctx, pool, MigrateOptions{InstallRoles: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `insert into stowage.events (event_id, type, bucket_id, name, body)
		select gen_random_uuid(), 'ObjectCreated:Put', 'bench', 'fill/' || g, '{}' from generate_series(1, $1) g`, rows); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `vacuum analyze stowage.events`); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"type":"ObjectCreated:Put","region":"us-east-1","$version":"v1","applyTime":1764800000000,` +
		`"payload":{"bucketId":"bench","name":"k","version":"0b5e5a3c-8a4c-4d52-9d1e-3f0c2e9d5b11","metadata":{` +
		`"eTag":"\"d41d8cd98f00b204e9800998ecf8427e\"","size":4096,"mimetype":"application/octet-stream",` +
		`"cacheControl":"no-cache","lastModified":"2026-12-03T22:00:00.000Z","contentLength":4096,"httpStatusCode":200},` +
		`"uploadType":"s3","reqId":"9f1c2d3e-aaaa-bbbb-cccc-0123456789ab","tenant":{"ref":"stub","host":""}}}`)
	service := Scope{Role: "service_role"}
	// pg_stat_wal counts what a backend wrote once it reports, at the latest when it exits:
	// the writers' connections are closed, and gone, before the figures are read.
	wal := func() (lsn string, fpi int64) {
		if err := pool.QueryRow(ctx, `select pg_current_wal_insert_lsn()::text, wal_fpi from pg_stat_wal`).Scan(&lsn, &fpi); err != nil {
			b.Fatal(err)
		}
		return lsn, fpi
	}
	closeWriters := func(d *DB) {
		var pids []uint32
		for _, c := range d.Pool().AcquireAllIdle(ctx) {
			pids = append(pids, c.Conn().PgConn().PID())
			c.Release()
		}
		d.Close()
		for {
			var left bool
			if err := pool.QueryRow(ctx, `select exists (select 1 from pg_stat_activity where pid = any($1))`, pids).Scan(&left); err != nil {
				b.Fatal(err)
			}
			if !left {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		name string
		id   func() string
	}{
		{"random-ids", uuid.NewString},
		{"time-ordered-ids", func() string { return uuid.Must(uuid.NewV7()).String() }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if _, err := pool.Exec(ctx, `checkpoint`); err != nil {
				b.Fatal(err)
			}
			d, err := Open(ctx, url, Options{MaxConns: 16})
			if err != nil {
				b.Fatal(err)
			}
			lsn0, fpi0 := wal()
			b.SetParallelism(8) // 16 writers on 2 cores, as the load benchmark's
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					ev := Event{EventID: tc.id(), Type: "ObjectCreated:Put", S3Name: "ObjectCreated:Put",
						BucketID: "bench", Name: fmt.Sprintf("k/%d", i), Version: "v", ETag: "e", Size: 4096, Body: body}
					if err := d.InTx(ctx, service, func(tx Tx) error { tx.QueueAddEvents([]Event{ev}); return nil }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			closeWriters(d)
			lsn1, fpi1 := wal()
			var bytes int64
			if err := pool.QueryRow(ctx, `select pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint`, lsn1, lsn0).Scan(&bytes); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "wal-B/op")
			b.ReportMetric(float64(fpi1-fpi0)/float64(b.N), "fpi/op")
		})
	}
}
