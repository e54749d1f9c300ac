package db

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/db/pgcluster"
	"github.com/stowage/stowage/db/pgtest"
)

// hangGuard bounds a call that must come back on its own deadline: if the guard is what
// ended it, the client-side deadline did not work. Far longer than any deadline below.
const hangGuard = 2 * time.Minute

// startPrivateCluster starts a throw-away cluster of the test's own, which the test may
// freeze and thaw without disturbing the package's shared one.
func startPrivateCluster(t *testing.T) *pgcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Postgres cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: t.TempDir(), Throwaway: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

// freeze stops the postmaster, then every process it forked (backends, checkpointer, …),
// as a hung machine would look from the client: sockets stay open, nothing answers. The
// returned thaw continues them all; it also runs at cleanup, before the cluster stops.
func freeze(t *testing.T, c *pgcluster.Cluster) (thaw func()) {
	t.Helper()
	pm := c.PID()
	if pm == 0 {
		t.Fatal("cluster has no postmaster pid")
	}
	// The postmaster first: stopped, it forks no child we could miss.
	pids := []int{pm}
	if err := syscall.Kill(pm, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP postmaster %d: %v", pm, err)
	}
	children, err := childrenOf(pm)
	if err != nil {
		_ = syscall.Kill(pm, syscall.SIGCONT)
		t.Fatal(err)
	}
	for _, pid := range children {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err == nil {
			pids = append(pids, pid)
		}
	}
	thawed := false
	thaw = func() {
		if thawed {
			return
		}
		thawed = true
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw) // registered after the cluster's Stop, so it runs first
	return thaw
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses, so parse after
		// the last ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out, nil
}

// TestHungDatabaseFailsFast freezes the server (SIGSTOP) under an open transaction: the
// next statement fails on the client-side deadline (statement timeout plus a margin) as
// ErrUnavailable instead of waiting for the caller's, a new connection fails on the connect
// timeout, and once the server continues the pool works again on a new connection: the
// one whose statement timed out was closed, not handed out again.
func TestHungDatabaseFailsFast(t *testing.T) {
	c := startPrivateCluster(t)
	ctx := context.Background()
	d, err := Open(ctx, c.URL("postgres"), Options{MaxConns: 1,
		StatementTimeout: 500 * time.Millisecond, ConnectTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	scope := Scope{Role: "postgres"}
	backendPID := func(ctx context.Context) (int, error) {
		var pid int
		err := d.InTx(ctx, scope, func(tx Tx) error { return tx.tx.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid) })
		return pid, err
	}

	var victim int
	var thaw func()
	guard, cancel := context.WithTimeout(ctx, hangGuard)
	defer cancel()
	err = d.InTx(guard, scope, func(tx Tx) error {
		if err := tx.tx.QueryRow(guard, "select pg_backend_pid()").Scan(&victim); err != nil {
			t.Fatal(err)
		}
		thaw = freeze(t, c)
		_, err := tx.tx.Exec(guard, "select 1")
		return err
	})
	if guard.Err() != nil {
		t.Fatalf("the statement on a frozen server waited for the caller's deadline: %v", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("statement on a frozen server: %v, want ErrUnavailable", err)
	}

	// The pool's only connection is gone; a new one cannot be had from a frozen server.
	_, err = backendPID(guard)
	if guard.Err() != nil {
		t.Fatalf("connecting to a frozen server waited for the caller's deadline: %v", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("connect to a frozen server: %v, want ErrUnavailable", err)
	}

	thaw()
	var pid int
	err = retryUnavailable(guard, func() (err error) { pid, err = backendPID(guard); return err })
	if err != nil {
		t.Fatalf("after the server continued: %v", err)
	}
	if pid == victim {
		t.Fatalf("the connection whose statement timed out (backend %d) was used again", victim)
	}
}

// TestAcquireIsBounded: with every pooled connection taken, waiting for one ends at the
// connect timeout with ErrUnavailable (the reference's acquireConnectionTimeout, 544 there,
// 503 here), not at the caller's deadline.
func TestAcquireIsBounded(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, pgtest.URL(t), Options{MaxConns: 1,
		StatementTimeout: 500 * time.Millisecond, ConnectTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	held, err := d.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()

	guard, cancel := context.WithTimeout(ctx, hangGuard)
	defer cancel()
	err = d.InTx(guard, Scope{Role: "postgres"}, func(Tx) error { return nil })
	if guard.Err() != nil {
		t.Fatalf("waiting for a connection lasted until the caller's deadline: %v", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("InTx with the pool exhausted: %v, want ErrUnavailable", err)
	}
	held.Release()
	if err := d.InTx(guard, Scope{Role: "postgres"}, func(Tx) error { return nil }); err != nil {
		t.Fatalf("after the connection came back: %v", err)
	}
}
