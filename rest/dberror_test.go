package rest

import (
	"context"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway"
)

// TestDatabaseErrorsAsTheReference: the database's refusals the reference words itself.
func TestDatabaseErrorsAsTheReference(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	t.Run("a JWT role Postgres does not know", func(t *testing.T) {
		f.t = t
		// The reference shows the SQLSTATE (rest-api.md §1), never the server's message.
		k, err := f.v.Sign(map[string]any{"role": "no_such_role", "exp": time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		r := f.do("GET", "/bucket", k, nil)
		f.checkError(r, envelope{500, "500", "DatabaseError", "database error, code: 22023"})
		if e := r.json(t); e["error"] != "DatabaseError" {
			t.Fatalf("error tag %v", e["error"])
		}
	})
	t.Run("a bucket an unfinished S3 upload references", func(t *testing.T) {
		f.t = t
		ctx := context.Background()
		if r := f.do("POST", "/bucket", f.service, map[string]any{"name": "pending"}); r.status != 200 {
			t.Fatalf("create bucket: %d %s", r.status, r.body)
		}
		svc := f.engine.ServiceCaller("test")
		if _, err := f.engine.CreateMultipartUpload(ctx, svc, gateway.CreateMultipartUpload{Bucket: "pending", Key: "big.bin"}); err != nil {
			t.Fatal(err)
		}
		r := f.do("DELETE", "/bucket/pending", f.service, map[string]any{})
		f.checkError(r, envelope{400, "409", "ResourceReferenced", `Key (id)=(pending) is still referenced from table "s3_multipart_uploads".`})
		if e := r.json(t); e["error"] != "ResourceReferenced" {
			t.Fatalf("error tag %v", e["error"])
		}
		if r := f.do("GET", "/bucket/pending", f.service, nil); r.status != 200 {
			t.Fatalf("the refused delete removed the bucket: %d %s", r.status, r.body)
		}
	})
}
