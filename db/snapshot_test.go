package db

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db/pgtest"
)

// snapshotFixture is a database with one object row, b/k, and a connection of its own to
// act as another gateway.
func snapshotFixture(t *testing.T) (*DB, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	d, err := Open(ctx, url, Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if _, err := d.Pool().Exec(ctx, `insert into storage.buckets (id, name) values ('b', 'b');
		insert into storage.objects (bucket_id, name, metadata) values ('b', 'k', '{}')`); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close(context.Background()) })
	return d, other
}

// commitUnderKeyLock updates b/k from conn as an upload's commit does: under the key's
// transaction-level advisory lock.
func commitUnderKeyLock(ctx context.Context, conn *pgx.Conn) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock($1)`, LockHash("b/k")); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `update storage.objects set metadata = '{"n":1}' where bucket_id = 'b' and name = 'k'`)
		return err
	})
}

// advisoryLocks counts the advisory locks held by sessions other than conn's.
func advisoryLocks(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var n int
	// This database's only: test packages may share one cluster (scripts/test.sh).
	if err := conn.QueryRow(context.Background(), `select count(*) from pg_locks
		where locktype = 'advisory' and pid <> pg_backend_pid()
		  and database = (select oid from pg_database where datname = current_database())`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A commit to the key between the snapshot and the write fails the first attempt; the
// second runs holding the key's advisory lock, so a committing writer waits for it instead
// of failing it again, and the lock is gone once the transaction has ended.
func TestSnapshotTxKeysLocksAfterConflict(t *testing.T) {
	ctx := context.Background()
	d, other := snapshotFixture(t)
	attempts := 0
	heldOnRetry := false
	err := d.InSnapshotTxKeys(ctx, Scope{Role: "service_role"}, "b", []string{"k", "k"}, func(tx Tx) error {
		attempts++
		if _, err := tx.tx.Exec(ctx, `select 1 from storage.objects`); err != nil { // takes the snapshot
			return err
		}
		switch attempts {
		case 1:
			if err := commitUnderKeyLock(ctx, other); err != nil {
				return err
			}
		case 2:
			var got bool
			if err := other.QueryRow(ctx, `select pg_try_advisory_lock($1)`, LockHash("b/k")).Scan(&got); err != nil {
				return err
			}
			heldOnRetry = !got
		}
		_, err := tx.tx.Exec(ctx, `delete from storage.objects where bucket_id = 'b' and name = 'k'`)
		return err
	})
	if err != nil {
		t.Fatalf("attempt %d: %v", attempts, err)
	}
	if attempts != 2 || !heldOnRetry {
		t.Fatalf("%d attempts, key lock held on the retry: %v; want 2, true", attempts, heldOnRetry)
	}
	if n := advisoryLocks(t, other); n != 0 {
		t.Fatalf("%d advisory locks outlived the transaction", n)
	}
}

// A retry that cannot get the key's lock (lock_timeout, as LockKey) fails without keeping
// any lock or the session's lock_timeout on the pooled connection.
func TestSnapshotTxKeysLockTimeoutReleases(t *testing.T) {
	ctx := context.Background()
	d, other := snapshotFixture(t)
	attempts := 0
	err := d.InSnapshotTxKeys(ctx, Scope{Role: "service_role"}, "b", []string{"a", "k"}, func(tx Tx) error {
		attempts++
		if _, err := tx.tx.Exec(ctx, `select 1 from storage.objects`); err != nil {
			return err
		}
		if err := commitUnderKeyLock(ctx, other); err != nil {
			return err
		}
		// From now on another session holds the key: the retry cannot lock it.
		if _, err := other.Exec(ctx, `select pg_advisory_lock($1)`, LockHash("b/k")); err != nil {
			return err
		}
		_, err := tx.tx.Exec(ctx, `delete from storage.objects where bucket_id = 'b' and name = 'k'`)
		return err
	})
	if err == nil || errors.Is(err, ErrRetry) || attempts != 1 {
		t.Fatalf("after %d attempts: %v; want a lock timeout after 1", attempts, err)
	}
	if _, err := other.Exec(ctx, `select pg_advisory_unlock_all()`); err != nil {
		t.Fatal(err)
	}
	if n := advisoryLocks(t, other); n != 0 {
		t.Fatalf("%d advisory locks held after the failed retry", n)
	}
	// Every pooled connection, the one that failed among them.
	var conns []*pgxpool.Conn
	for range 2 {
		c, err := d.Pool().Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
		conns = append(conns, c)
	}
	for _, c := range conns {
		var timeout string
		if err := c.QueryRow(ctx, `select current_setting('lock_timeout')`).Scan(&timeout); err != nil || timeout != "0" {
			t.Fatalf("lock_timeout %q (%v) on a pooled connection", timeout, err)
		}
	}
}
