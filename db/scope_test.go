package db

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stowage/stowage/db/pgtest"
)

// The scope rides in the begin query as quoted literals; values built to break out of a
// literal must arrive as exactly the text they are, and what cannot be quoted goes the
// parameter way.
func TestScopeValuesArriveVerbatim(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, pgtest.URL(t), Options{MaxConns: 3, StatementTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	nasty := []string{
		`it's`,
		`'); select pg_sleep(10); --`,
		`\'; drop table storage.objects; --`,
		`$$ $1 $tag$ ` + "\n\t" + `é 😀`,
		`''''`,
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pc := conn.Conn().PgConn()
	defer conn.Release()
	for _, v := range nasty {
		s := Scope{Role: "authenticated", Sub: v, Path: v, Method: "PUT", Operation: v,
			Headers: `{"x":` + jsonString(v) + `}`, Claims: `{"role":"authenticated","sub":` + jsonString(v) + `}`}
		if _, ok := d.beginScoped(pc, s); !ok {
			t.Fatalf("%q: not sent in the begin query", v)
		}
		var sub, path, op, headers, role, timeout string
		err := d.InTx(ctx, s, func(tx Tx) error {
			return tx.tx.QueryRow(ctx, `select current_setting('request.jwt.claim.sub'), current_setting('request.path'),
				current_setting('storage.operation'), current_setting('request.headers')::json->>'x',
				current_user::text, current_setting('statement_timeout')`).Scan(&sub, &path, &op, &headers, &role, &timeout)
		})
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if sub != v || path != v || op != v || headers != v {
			t.Errorf("%q arrived as sub=%q path=%q op=%q header=%q", v, sub, path, op, headers)
		}
		if role != "authenticated" || timeout != "1500ms" {
			t.Errorf("role %q timeout %q, want authenticated 1500ms", role, timeout)
		}
	}

	// A NUL cannot be quoted (nor stored as text at all): the parameter path reports it.
	if err := d.InTx(ctx, Scope{Role: "anon", Path: "a\x00b"}, func(Tx) error { return nil }); err == nil {
		t.Error("a NUL in a scope value was accepted")
	}

	// A role the database lacks fails the begin; the pool replaces the connection and
	// the next transaction works.
	err = d.InTx(ctx, Scope{Role: "no_such_role"}, func(Tx) error { return nil })
	if err == nil {
		t.Fatal("unknown role accepted")
	}
	for range 3 {
		if err := d.InTx(ctx, Scope{Role: "anon"}, func(tx Tx) error {
			var one int
			return tx.tx.QueryRow(ctx, "select 1").Scan(&one)
		}); err != nil {
			t.Fatalf("after a failed begin: %v", err)
		}
	}

	// fn's error rolls back and comes back as it was.
	sentinel := errors.New("sentinel")
	if err := d.InTx(ctx, Scope{Role: "service_role"}, func(tx Tx) error {
		if _, err := tx.tx.Exec(ctx, `insert into storage.buckets (id, name) values ('scope-rollback', 'scope-rollback')`); err != nil {
			return err
		}
		return sentinel
	}); !errors.Is(err, sentinel) {
		t.Fatalf("fn error came back as %v", err)
	}
	var n int
	if err := d.pool.QueryRow(ctx, `select count(*) from storage.buckets where id = 'scope-rollback'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rolled-back insert visible: n=%d err=%v", n, err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
