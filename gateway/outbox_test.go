package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// outbox reads the recorded events as "type s3name bucket/name" lines, in order.
func (f *fixture) outbox(t *testing.T) []string {
	t.Helper()
	rows, err := f.db.Pool().Query(context.Background(),
		`select type || ' ' || s3_name || ' ' || bucket_id || '/' || name from stowage.events order by id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func newEventsFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.e.opts.Events, f.e.opts.Region, f.e.opts.TenantID = true, "eu-test-1", "tenant-ref"
	return f
}

func TestOutboxRecordsEveryChange(t *testing.T) {
	t.Parallel()
	f := newEventsFixture(t)
	ctx := WithRequestID(context.Background(), "req-1")
	if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "ev", FileSizeLimit: NoLimit}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, upsert bool, c Caller) {
		t.Helper()
		if _, err := f.e.PutObject(ctx, c, PutObject{Bucket: "ev", Key: key, Body: bytes.NewReader([]byte("hi")), Size: 2, Upsert: upsert}); err != nil {
			t.Fatal(err)
		}
	}
	put("a.txt", false, service())
	put("a.txt", true, service())
	s3 := service()
	s3.Operation = "storage.s3.PutObject"
	put("s3.txt", true, s3)
	if _, err := f.e.CopyObject(ctx, service(), CopyObject{SrcBucket: "ev", SrcKey: "a.txt", DstBucket: "ev", DstKey: "b.txt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.MoveObject(ctx, service(), CopyObject{SrcBucket: "ev", SrcKey: "b.txt", DstBucket: "ev", DstKey: "c.txt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.SetObjectTags(ctx, service(), "ev", "c.txt", []Tag{{Key: "k", Value: "v"}}); err != nil {
		t.Fatal(err)
	}
	up, err := f.e.CreateMultipartUpload(ctx, s3, CreateMultipartUpload{Bucket: "ev", Key: "mp.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.UploadPart(ctx, s3, UploadPart{Bucket: "ev", Key: "mp.bin", UploadID: up.ID, PartNumber: 1, Body: strings.NewReader("part"), Size: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.CompleteMultipartUpload(ctx, s3, CompleteMultipartUpload{Bucket: "ev", Key: "mp.bin", UploadID: up.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.DeleteObjects(ctx, service(), "ev", []string{"a.txt", "c.txt", "s3.txt", "mp.bin"}); err != nil {
		t.Fatal(err)
	}
	if err := f.e.DeleteBucket(ctx, service(), "ev", DeleteBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Bucket:Created  ev/",
		"ObjectCreated:Post ObjectCreated:Put ev/a.txt",
		"ObjectCreated:Put ObjectCreated:Put ev/a.txt",
		"ObjectCreated:Post ObjectCreated:Put ev/s3.txt",
		"ObjectCreated:Copy ObjectCreated:Copy ev/b.txt",
		"ObjectRemoved:Move ObjectRemoved:Delete ev/b.txt",
		"ObjectCreated:Move ObjectCreated:Copy ev/c.txt",
		"ObjectUpdated:Metadata ObjectTagging:Put ev/c.txt",
		"ObjectCreated:Post ObjectCreated:CompleteMultipartUpload ev/mp.bin",
		"ObjectRemoved:Delete ObjectRemoved:Delete ev/a.txt",
		"ObjectRemoved:Delete ObjectRemoved:Delete ev/c.txt",
		"ObjectRemoved:Delete ObjectRemoved:Delete ev/mp.bin",
		"ObjectRemoved:Delete ObjectRemoved:Delete ev/s3.txt",
		"Bucket:Deleted  ev/",
	}
	got := f.outbox(t)
	// DeleteObjects reports rows in the database's order; compare the deletes as a set.
	slices.Sort(got[9:13])
	if !slices.Equal(got, want) {
		t.Errorf("outbox:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	var body, upload string
	err = f.db.Pool().QueryRow(context.Background(), `select body::text, body->'payload'->>'uploadType' from stowage.events
		where name = 's3.txt' and type = 'ObjectCreated:Post'`).Scan(&body, &upload)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Type      string `json:"type"`
		Region    string `json:"region"`
		Version   string `json:"$version"`
		ApplyTime int64  `json:"applyTime"`
		Payload   struct {
			BucketID, Name, Version, ReqID string
			Metadata                       struct {
				ETag string `json:"eTag"`
				Size int64  `json:"size"`
			}
			Tenant struct{ Ref string }
		}
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "ObjectCreated:Post" || ev.Region != "eu-test-1" || ev.Version != "v1" || ev.ApplyTime == 0 ||
		ev.Payload.BucketID != "ev" || ev.Payload.Name != "s3.txt" || ev.Payload.Version == "" || ev.Payload.ReqID != "req-1" ||
		ev.Payload.Tenant.Ref != "tenant-ref" || ev.Payload.Metadata.Size != 2 || ev.Payload.Metadata.ETag == "" || upload != "s3" {
		t.Errorf("event body %s (uploadType %q)", body, upload)
	}
	// Event ids are time-ordered (version 7): the outbox's index on them grows at one end.
	rows, err := f.db.Pool().Query(ctx, `select event_id::text from stowage.events order by id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if u, err := uuid.Parse(id); err != nil || u.Version() != 7 || (i > 0 && id <= ids[i-1]) {
			t.Errorf("event ids in commit order %v: %s is not a version 7 UUID after the one before (%v)", ids, id, err)
		}
	}
}

func TestOutboxRolledBackChangeRecordsNothing(t *testing.T) {
	t.Parallel()
	f := newEventsFixture(t)
	ctx := context.Background()
	if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "small", FileSizeLimit: 3}); err != nil {
		t.Fatal(err)
	}
	f.ownFolderPolicies(t, "small", "select", "insert")
	before := f.outbox(t)
	// Too large: refused while streaming (declared size unknown).
	_, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "small", Key: "big", Body: strings.NewReader("too large"), Size: -1})
	wantCode(t, err, CodeTooLarge)
	// RLS: a user writing outside their folder.
	_, err = f.put(t, user("5b1e3b6c-1c1a-4c55-9c6e-0d6f7e0c1a11"), "small", "other/x", []byte("x"), false)
	wantCode(t, err, CodeForbidden)
	// A duplicate without upsert.
	if _, err := f.put(t, service(), "small", "dup", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	_, err = f.put(t, service(), "small", "dup", []byte("y"), false)
	wantCode(t, err, CodeKeyAlreadyExists)
	// A delete RLS refuses (no delete policy).
	_, err = f.e.DeleteObject(ctx, user("5b1e3b6c-1c1a-4c55-9c6e-0d6f7e0c1a11"), "small", "dup")
	if err == nil {
		t.Fatal("delete without a policy succeeded")
	}
	got := f.outbox(t)
	want := append(before, "ObjectCreated:Post ObjectCreated:Put small/dup")
	if !slices.Equal(got, want) {
		t.Errorf("outbox %q, want %q", got, want)
	}
}

func TestOutboxOffRecordsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "quiet")
	if _, err := f.put(t, service(), "quiet", "k", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	if got := f.outbox(t); len(got) != 0 {
		t.Errorf("events recorded with events off: %q", got)
	}
}
