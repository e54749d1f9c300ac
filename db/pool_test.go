package db

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db/pgtest"
)

// TestPoolReleasesIdleConnections checks that the connections a burst opened are closed
// once idle, down to MinConns, on the client and on the server: a pool that kept them would
// hold a Postgres backend each for good.
func TestPoolReleasesIdleConnections(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	d, err := Open(ctx, url, Options{MaxConns: 8, MinConns: 2, MaxConnIdleTime: 200 * time.Millisecond,
		ApplicationName: "pool-idle-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// A burst: six connections held at once.
	var conns []*pgxpool.Conn
	for range 6 {
		c, err := d.Pool().Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if got := backends(t, url); got < 6 {
		t.Fatalf("%d backends during the burst, want at least 6", got)
	}
	for _, c := range conns {
		c.Release()
	}
	// Hang guard only: the pool's health check closes them within a second or two.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		total, server := d.Pool().Stat().TotalConns(), backends(t, url)
		if total == 2 && server == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes idle: pool holds %d connections, the server %d backends; want 2 (MinConns)", total, server)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPoolKeepsConnectionsWithoutIdleTimeout: MaxConnIdleTime 0 means never close (pgxpool
// itself would close every idle connection at its next health check).
func TestPoolKeepsConnectionsWithoutIdleTimeout(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, pgtest.URL(t), Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.Pool().Config().MaxConnIdleTime; got < 24*time.Hour {
		t.Fatalf("MaxConnIdleTime %v, want never", got)
	}
}

// backends counts the server processes of the test's pools (the one under test is the
// only one with its application name).
func backends(t *testing.T, url string) int {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var n int
	if err := p.QueryRow(context.Background(), `select count(*) from pg_stat_activity where application_name = 'pool-idle-test'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
