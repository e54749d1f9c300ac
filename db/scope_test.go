package db

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stowage/stowage/db/pgtest"
)

// The scope's settings ride in the begin pipeline as parameters: values built to break out
// of a literal arrive as exactly the text they are.
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
	for _, v := range nasty {
		s := Scope{Role: "authenticated", Sub: v, Path: v, Method: "PUT", Operation: v,
			Headers: func() string { return `{"x":` + jsonString(v) + `}` }, Claims: `{"role":"authenticated","sub":` + jsonString(v) + `}`}
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

	// A NUL cannot be text at all: the transaction fails instead of truncating the value.
	if err := d.InTx(ctx, Scope{Role: "anon", Path: "a\x00b"}, func(Tx) error { return nil }); err == nil {
		t.Error("a NUL in a scope value was accepted")
	}

	// A role the database lacks fails the begin; the transaction is rolled back and the
	// next one works.
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

// ReadObject's pipeline leaves nothing behind on the pooled connection: not the caller's
// settings, not an open transaction, whether the read found a row, found none, or failed.
func TestReadObjectPipeline(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, pgtest.URL(t), Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	svc := Scope{Role: "service_role"}
	if err := d.InTx(ctx, svc, func(tx Tx) error {
		if _, err := tx.tx.Exec(ctx, `insert into storage.buckets (id, name) values ('rp', 'rp')`); err != nil {
			return err
		}
		_, err := tx.InsertObject(ctx, Object{BucketID: "rp", Name: "a.txt", Version: "v1", Metadata: json.RawMessage(`{"size":1}`)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	clean := func(when string) {
		t.Helper()
		var user, sub string
		if err := d.pool.QueryRow(ctx, `select current_user::text, coalesce(current_setting('request.jwt.claim.sub', true), '')`).Scan(&user, &sub); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if user == "service_role" || user == "anon" || sub != "" {
			t.Fatalf("%s: the connection kept the scope: user %q sub %q", when, user, sub)
		}
	}
	o, err := d.ReadObject(ctx, Scope{Role: "service_role", Sub: "someone"}, "rp", "a.txt")
	if err != nil || o.Version != "v1" {
		t.Fatalf("read: %+v, %v", o, err)
	}
	clean("after a read")
	// anon has no SELECT policy on storage.objects: RLS hides the row.
	if _, err := d.ReadObject(ctx, Scope{Role: "anon", Sub: "x"}, "rp", "a.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("anon read: %v, want not found", err)
	}
	clean("after a hidden read")
	if _, err := d.ReadObject(ctx, Scope{Role: "no_such_role"}, "rp", "a.txt"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown role: %v", err)
	}
	clean("after a failed read")
	if _, err := d.ReadObject(ctx, svc, "rp", "a.txt"); err != nil {
		t.Fatal(err)
	}
	// Asking whether the role bypasses RLS rides along; a scope marked BypassesRLS reads
	// with the role and statement_timeout only, and leaves nothing behind either.
	for _, tc := range []struct {
		s      Scope
		bypass bool
	}{{Scope{Role: "service_role", Sub: "someone"}, true}, {Scope{Role: "anon"}, false}} {
		_, bypass, err := d.ReadObjectAsking(ctx, tc.s, "rp", "a.txt", true, nil)
		if bypass == nil || *bypass != tc.bypass || (err != nil) == tc.bypass {
			t.Fatalf("%s: bypass %v, %v; want %v", tc.s.Role, bypass, err, tc.bypass)
		}
		clean("after asking")
	}
	o, bypass, err := d.ReadObjectAsking(ctx, Scope{Role: "service_role", Sub: "someone", BypassesRLS: true}, "rp", "a.txt", false, nil)
	if err != nil || o.Version != "v1" || bypass != nil {
		t.Fatalf("read marked BypassesRLS: %+v, %v, %v", o, bypass, err)
	}
	clean("after a read marked BypassesRLS")
}
