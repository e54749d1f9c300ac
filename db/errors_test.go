package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stowage/stowage/db/pgtest"
)

// classifyCases are the SQLSTATEs the engine must tell apart; nil: a plain database error.
var classifyCases = []struct {
	name string
	code string
	want error
}{
	{"admin shutdown", "57P01", ErrUnavailable},
	{"crash shutdown", "57P02", ErrUnavailable},
	{"cannot connect now", "57P03", ErrUnavailable},
	{"idle session timeout", "57P05", ErrUnavailable},
	{"connection failure", "08006", ErrUnavailable},
	{"connection does not exist", "08003", ErrUnavailable},
	{"too many connections", "53300", ErrUnavailable},
	{"out of memory", "53200", ErrUnavailable},
	{"serialization failure", "40001", ErrRetry},
	{"deadlock", "40P01", ErrRetry},
	{"statement timeout", "57014", ErrTimeout},
	{"unique", "23505", ErrUniqueViolated},
	{"rls", "42501", ErrForbidden},
	{"foreign key", "23503", ErrForeignKey},
	{"lock not available", "55P03", ErrLocked},
	{"invalid parameter value", "22023", nil},
	{"undefined table", "42P01", nil},
}

func wantClass(t *testing.T, err, want error) {
	t.Helper()
	got := Classify(err)
	if want == nil {
		for _, s := range sentinels {
			if errors.Is(got, s) {
				t.Fatalf("Classify(%v) = %v, want no sentinel", err, got)
			}
		}
		return
	}
	if !errors.Is(got, want) {
		t.Fatalf("Classify(%v) = %v, want %v", err, got, want)
	}
	if !errors.Is(got, err) {
		t.Fatalf("Classify(%v) lost the cause: %v", err, got)
	}
	if again := Classify(got); again != got {
		t.Fatalf("Classify is not idempotent: %v, then %v", got, again)
	}
}

// TestClassifyPgError classifies pgconn.PgError values as pgx returns them, bare and wrapped.
func TestClassifyPgError(t *testing.T) {
	t.Parallel()
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pg := &pgconn.PgError{Severity: "ERROR", Code: tc.code, Message: tc.name}
			wantClass(t, pg, tc.want)
			wantClass(t, fmt.Errorf("scope transaction: %w", pg), tc.want)
		})
	}
}

// TestClassifyServerRaised classifies errors a real server sent with each SQLSTATE.
func TestClassifyServerRaised(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conn.Exec(ctx, fmt.Sprintf(`do $$ begin raise exception 'raised' using errcode = '%s'; end $$`, tc.code))
			var pg *pgconn.PgError
			if !errors.As(err, &pg) || pg.Code != tc.code {
				t.Fatalf("raise %s: %v", tc.code, err)
			}
			wantClass(t, err, tc.want)
		})
	}
}

// TestClassifyBrokenConnection: errors of the connection rather than of a statement are
// ErrUnavailable, including a server refusal that arrives inside a pgconn.ConnectError.
func TestClassifyBrokenConnection(t *testing.T) {
	t.Parallel()
	var opErr net.Error = &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"unexpected eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF)},
		{"eof", io.EOF},
		{"net error", opErr},
		{"conn closed", pgconn.ErrConnClosed},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantClass(t, tc.err, ErrUnavailable)
		})
	}
	wantClass(t, errors.New("something else"), nil)
	wantClass(t, pgx.ErrNoRows, ErrNotFound)
}

// TestConnectRefusedByServerIsUnavailable: a server that refuses the session after
// accepting the socket (here: too many connections for the role, 53300; a missing
// database, 3D000) answers with a PgError inside a ConnectError. No statement ran, so the
// request is retryable whatever the SQLSTATE, and not a plain database error (which
// checking the server error first made it).
func TestConnectRefusedByServerIsUnavailable(t *testing.T) {
	ctx := context.Background()
	base := pgtest.URL(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	role := "stowage_nolimit_" + fmt.Sprint(time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "create role "+role+" login connection limit 0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "drop role "+role) })

	for _, tc := range []struct {
		name, code string
		url        func(u *url.URL)
	}{
		{"too many connections", "53300", func(u *url.URL) { u.User = url.User(role) }},
		{"no such database", "3D000", func(u *url.URL) { u.Path = "/stowage_no_such_database" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			tc.url(u)
			d, err := Open(ctx, u.String(), Options{MaxConns: 2, ConnectTimeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			err = d.Ping(ctx)
			var pg *pgconn.PgError
			var ce *pgconn.ConnectError
			if !errors.As(err, &ce) || !errors.As(err, &pg) || pg.Code != tc.code {
				t.Fatalf("Ping: %v, want a ConnectError with SQLSTATE %s", err, tc.code)
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Ping: %v, want ErrUnavailable", err)
			}
		})
	}
}

// TestTerminatedMidTransaction: a backend terminated while its transaction is open (as a
// fast shutdown or pg_terminate_backend does) fails the transaction with ErrUnavailable,
// not a plain database error, and the pool replaces the connection.
func TestTerminatedMidTransaction(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	d, err := Open(ctx, dbURL, Options{MaxConns: 1, StatementTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	var victim int
	err = d.InTx(ctx, Scope{Role: "postgres"}, func(tx Tx) error {
		if err := tx.tx.QueryRow(ctx, "select pg_backend_pid()").Scan(&victim); err != nil {
			return err
		}
		var ok bool
		if err := admin.QueryRow(ctx, "select pg_terminate_backend($1, 60000)", victim).Scan(&ok); err != nil || !ok {
			return fmt.Errorf("terminate %d: %v %v", victim, ok, err)
		}
		_, err := tx.tx.Exec(ctx, "select 1")
		return err
	})
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		t.Logf("server said %s %s", pg.Code, pg.Message)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("transaction on a terminated backend: %v, want ErrUnavailable", err)
	}

	// The pool's only connection was the victim: the next transaction gets a new one.
	var pid int
	if err := d.InTx(ctx, Scope{Role: "postgres"}, func(tx Tx) error {
		return tx.tx.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid)
	}); err != nil {
		t.Fatalf("after the termination: %v", err)
	}
	if pid == victim {
		t.Fatalf("the terminated backend %d is still in use", pid)
	}
}
