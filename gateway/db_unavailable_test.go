package gateway

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// sabotageBucketInserts installs a trigger on storage.buckets that runs sql (as the
// superuser) when a bucket whose id starts with prefix is inserted: a way to make the
// engine's own statement meet a real server failure at a chosen moment.
func sabotageBucketInserts(t *testing.T, f *fixture, prefix, sql string) {
	t.Helper()
	ctx := context.Background()
	fn := pgx.Identifier{"public", "sabotage_" + prefix}.Sanitize()
	stmts := []string{
		`create function ` + fn + `() returns trigger language plpgsql security definer as $$
		begin ` + sql + `; return new; end $$`,
		`create trigger ` + pgx.Identifier{"sabotage_" + prefix}.Sanitize() + ` before insert on storage.buckets
		for each row when (new.id like '` + prefix + `%') execute function ` + fn + `()`,
	}
	for _, s := range stmts {
		if _, err := f.db.Pool().Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDatabaseGoingAwayIsUnavailable: when the database ends the session (fast shutdown,
// pg_terminate_backend: SQLSTATE 57P01), the transaction loses a deadlock (40P01) or the
// server is still starting, the engine answers DatabaseTimeout (REST 544, S3 and TUS 503:
// retryable); too many connections (53300) answers TooManyConnections (the reference's 429
// SlowDown). The next request works.
func TestDatabaseGoingAwayIsUnavailable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sabotageBucketInserts(t, f, "terminated", `perform pg_terminate_backend(pg_backend_pid()); perform pg_sleep(60)`)
	sabotageBucketInserts(t, f, "deadlocked", `raise exception 'deadlock detected' using errcode = '40P01'`)
	sabotageBucketInserts(t, f, "starting", `raise exception 'the database system is starting up' using errcode = '57P03'`)
	sabotageBucketInserts(t, f, "crowded", `raise exception 'sorry, too many clients already' using errcode = '53300'`)
	for id, want := range map[string]Code{"terminated-1": CodeDatabaseTimeout, "deadlocked-1": CodeDatabaseTimeout,
		"starting-1": CodeDatabaseTimeout, "crowded-1": CodeTooManyConnections} {
		t.Run(id, func(t *testing.T) {
			_, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: id, FileSizeLimit: NoLimit})
			if code := CodeOf(err); code != want {
				t.Fatalf("CreateBucket: %v (%v), want %v", code, err, want)
			}
			f.bucket(t, "after-"+id)
		})
	}
}
