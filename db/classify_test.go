package db

import (
	"context"
	"errors"
	"testing"

	"github.com/stowage/stowage/db/pgtest"
)

// Text Postgres cannot store is ErrInvalidText (the engine answers 400, not a 500
// DatabaseError), whichever SQLSTATE says so: a NUL in text or a \u0000 escape in jsonb
// (22P05), invalid UTF-8 (22021).
func TestClassifyInvalidText(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, pgtest.URL(t), Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name, query, arg string
	}{
		{"NUL in text", `select $1::text`, "a\x00b"},
		{"NUL escape in jsonb", `select $1::jsonb::text`, `{"a":"\u0000"}`},
		{"invalid UTF-8 in jsonb", `select $1::jsonb::text`, "{\"a\":\"\xff\"}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s string
			err := d.pool.QueryRow(ctx, tc.query, tc.arg).Scan(&s)
			if err == nil {
				t.Fatalf("Postgres stored %q", tc.arg)
			}
			if got := Classify(err); !errors.Is(got, ErrInvalidText) {
				t.Fatalf("Classify(%v) is not ErrInvalidText", err)
			}
		})
	}
}
