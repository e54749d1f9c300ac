package db

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stowage/stowage/db/pgtest"
)

// TestPartitionedDatabaseFailsFast: a network partition (a proxy that stops forwarding;
// sockets stay open, nothing arrives) under an open transaction fails the next statement
// on the client-side deadline with ErrUnavailable, and after the partition heals the pool
// works again on a new connection.
func TestPartitionedDatabaseFailsFast(t *testing.T) {
	ctx := context.Background()
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	d, err := Open(ctx, dbURL, Options{MaxConns: 1,
		StatementTimeout: 500 * time.Millisecond, ConnectTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	scope := Scope{Role: "postgres"}
	guard, cancel := context.WithTimeout(ctx, hangGuard)
	defer cancel()

	var victim int
	err = d.InTx(guard, scope, func(tx Tx) error {
		if err := tx.tx.QueryRow(guard, "select pg_backend_pid()").Scan(&victim); err != nil {
			t.Fatal(err)
		}
		proxy.Hang()
		_, err := tx.tx.Exec(guard, "select 1")
		return err
	})
	if guard.Err() != nil {
		t.Fatalf("the statement across a partition waited for the caller's deadline: %v", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("statement across a partition: %v, want ErrUnavailable", err)
	}

	proxy.Restore()
	var pid int
	if err := retryUnavailable(guard, func() error {
		return d.InTx(guard, scope, func(tx Tx) error {
			return tx.tx.QueryRow(guard, "select pg_backend_pid()").Scan(&pid)
		})
	}); err != nil {
		t.Fatalf("after the partition healed: %v", err)
	}
	if pid == victim {
		t.Fatalf("the connection whose statement timed out (backend %d) was used again", victim)
	}
}

// TestMigrationsHaveNoStatementDeadline: statements under withoutStatementDeadline (the
// migrations, which may build indexes for minutes) outlive the client-side deadline that
// ends any other statement.
func TestMigrationsHaveNoStatementDeadline(t *testing.T) {
	ctx := context.Background()
	// 1 ms of statement timeout: the client-side deadline is its one-second minimum margin.
	d, err := Open(ctx, pgtest.URL(t), Options{MaxConns: 1, StatementTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const longer = "select pg_sleep(1.5)" // outside a scoped transaction: no server-side timeout
	if _, err := d.Pool().Exec(ctx, longer); !errors.Is(Classify(err), ErrUnavailable) {
		t.Fatalf("a statement past the deadline: %v, want ErrUnavailable", err)
	}
	if _, err := d.Pool().Exec(withoutStatementDeadline(ctx), longer); err != nil {
		t.Fatalf("a migration's statement past the deadline: %v", err)
	}
}

// retryUnavailable runs fn until it stops failing with ErrUnavailable (at most 30 times, or
// until ctx ends). After a fault heals, the first attempts may still fail on a loaded machine:
// a resumed server takes a while to answer again and the tests' timeouts are short. The
// tests assert that service comes back, not how fast.
func retryUnavailable(ctx context.Context, fn func() error) error {
	var err error
	for range 30 {
		if err = fn(); err == nil || !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return err
		}
	}
	return err
}
