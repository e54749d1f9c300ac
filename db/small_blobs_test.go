package db

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db/pgtest"
)

// TestForgetSmallBlobsBesideSweep: the sweep holds a due intent's lock and then deletes the
// blob's row; ForgetSmallBlobs, removing the same blob after the commit that superseded it,
// must take the two in the same order, or each waits for the other until Postgres's
// deadlock detector fails one of them.
func TestForgetSmallBlobsBesideSweep(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	d, err := Open(ctx, url, Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const key = "t/b/k/v1"
	if err := d.PutSmallBlob(ctx, key, []byte("bytes")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool().Exec(ctx, `insert into stowage.blob_intents (key, kind, expires_at) values ($1, 'delete', now())`, key); err != nil {
		t.Fatal(err)
	}
	// The sweep's transaction, as gateway.Sweep runs it: the intent locked first.
	sweep, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer sweep.Close(ctx)
	tx, err := sweep.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `select key from stowage.blob_intents where key = $1 for update skip locked`, key); err != nil {
		t.Fatal(err)
	}
	forgot := make(chan error, 1)
	go func() { forgot <- d.ForgetSmallBlobs(ctx, key) }()
	// Until ForgetSmallBlobs waits for a lock the sweep holds.
	for waiting := false; !waiting; {
		if err := d.Pool().QueryRow(ctx, `select exists (select 1 from pg_stat_activity
			where wait_event_type = 'Lock' and datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-forgot:
			t.Fatalf("ForgetSmallBlobs ended (%v) while the sweep held the intent", err)
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The sweep deletes the row, then commits; neither side may be failed as a deadlock.
	if _, err := tx.Exec(ctx, `delete from stowage.small_blobs where key = $1`, key); err != nil {
		t.Fatalf("the sweep's delete of the row: %v", err)
	}
	if _, err := tx.Exec(ctx, `delete from stowage.blob_intents where key = $1`, key); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-forgot; err != nil {
		t.Fatalf("ForgetSmallBlobs: %v", err)
	}
	if _, err := d.ReadSmallBlob(ctx, key); err != ErrNotFound {
		t.Fatalf("row after both: %v, want ErrNotFound", err)
	}
}
