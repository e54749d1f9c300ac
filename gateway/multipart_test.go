package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/multipart"
)

const mib = 1 << 20

// testData returns n reproducible random bytes.
func testData(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func (f *fixture) create(t *testing.T, c Caller, bucket, key string) MultipartUpload {
	t.Helper()
	u, err := f.e.CreateMultipartUpload(context.Background(), c, CreateMultipartUpload{Bucket: bucket, Key: key,
		ContentType: "application/x-parts", UserMetadata: []byte(`{"m":"1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) part(t *testing.T, e *Engine, u MultipartUpload, n int, data []byte) (Part, error) {
	t.Helper()
	return e.UploadPart(context.Background(), service(), UploadPart{Bucket: u.Bucket, Key: u.Key, UploadID: u.ID,
		PartNumber: n, Body: bytes.NewReader(data), Size: int64(len(data))})
}

func (f *fixture) mustPart(t *testing.T, u MultipartUpload, n int, data []byte) Part {
	t.Helper()
	p, err := f.part(t, f.e, u, n, data)
	if err != nil {
		t.Fatalf("part %d: %v", n, err)
	}
	return p
}

func completed(parts ...Part) []multipart.CompletedPart {
	out := make([]multipart.CompletedPart, len(parts))
	for i, p := range parts {
		out[i] = multipart.CompletedPart{PartNumber: p.Number, ETag: p.ETag}
	}
	return out
}

// multipartETag is S3's ETag of an object uploaded in parts, computed independently.
func multipartETag(parts ...[]byte) string {
	var sums []byte
	for _, p := range parts {
		s := md5.Sum(p)
		sums = append(sums, s[:]...)
	}
	s := md5.Sum(sums)
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(s[:]), len(parts))
}

func TestMultipartRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	data := testData(1, 10*mib+1)
	p1, p2, p3 := data[:5*mib], data[5*mib:10*mib], data[10*mib:]
	u := f.create(t, service(), "mp", "dir/big.bin")
	// Parts may arrive in any order.
	r3 := f.mustPart(t, u, 3, p3)
	r1 := f.mustPart(t, u, 1, p1)
	r2 := f.mustPart(t, u, 2, p2)
	if r1.ETag != etagOf(p1) || r3.Size != 1 {
		t.Fatalf("part results %+v %+v", r1, r3)
	}
	t.Run("list parts", func(t *testing.T) {
		cases := []struct {
			name          string
			marker, max   int
			want          []int
			truncated     bool
			nextPartMaker int
		}{
			{"all", 0, 0, []int{1, 2, 3}, false, 3},
			{"first page", 0, 2, []int{1, 2}, true, 2},
			{"second page", 2, 2, []int{3}, false, 3},
			{"past the end", 3, 2, nil, false, 0},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				l, err := f.e.ListParts(ctx, service(), ListParts{Bucket: "mp", Key: u.Key, UploadID: u.ID, PartNumberMarker: tc.marker, MaxParts: tc.max})
				if err != nil {
					t.Fatal(err)
				}
				var got []int
				for _, p := range l.Parts {
					got = append(got, p.Number)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) || l.IsTruncated != tc.truncated || l.NextPartNumberMarker != tc.nextPartMaker {
					t.Fatalf("got %v truncated=%v next=%d", got, l.IsTruncated, l.NextPartNumberMarker)
				}
			})
		}
	})
	obj, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: u.Key, UploadID: u.ID,
		Parts: completed(r1, r2, r3)})
	if err != nil {
		t.Fatal(err)
	}
	if want := multipartETag(p1, p2, p3); obj.ETag != want || obj.Size != int64(len(data)) || obj.ContentType != "application/x-parts" {
		t.Fatalf("object = %+v, want ETag %s", obj, want)
	}
	if string(obj.UserMetadata) != `{"m": "1"}` {
		t.Fatalf("user metadata %s", obj.UserMetadata)
	}
	got, err := f.read(t, service(), "mp", u.Key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want %d equal bytes", len(got), err, len(data))
	}
	if blobs := f.blobs(t); len(blobs) != 1 {
		t.Fatalf("want only the object's blob left, got %v", blobs)
	}
	_, err = f.e.ListParts(ctx, service(), ListParts{Bucket: "mp", Key: u.Key, UploadID: u.ID})
	wantCode(t, err, CodeNoSuchUpload)
	// A repeated completion answers the same result (TestMultipartCompleteTwice).
	if again, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: u.Key, UploadID: u.ID}); err != nil || again.ETag != obj.ETag {
		t.Fatalf("repeated completion: %+v %v", again, err)
	}
}

func TestMultipartCompleteErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	big := testData(2, 5*mib)
	u := f.create(t, service(), "mp", "k")
	r1 := f.mustPart(t, u, 1, big)
	r2 := f.mustPart(t, u, 2, []byte("small"))
	r3 := f.mustPart(t, u, 3, []byte("last"))
	wrong := r2
	wrong.ETag = etagOf([]byte("other"))
	missing := r3
	missing.Number = 4
	cases := []struct {
		name   string
		upload string
		parts  []Part
		want   Code
	}{
		{"out of order", u.ID, []Part{r2, r1}, CodeInvalidPartOrder},
		{"duplicate", u.ID, []Part{r1, r1}, CodeInvalidPartOrder},
		{"missing part", u.ID, []Part{r1, missing}, CodeInvalidPart},
		{"etag mismatch", u.ID, []Part{r1, wrong}, CodeInvalidPart},
		{"small part not last", u.ID, []Part{r1, r2, r3}, CodeEntityTooSmall},
		{"every part, small middle", u.ID, nil, CodeEntityTooSmall},
		{"unknown upload", "no-such-upload", []Part{r1}, CodeNoSuchUpload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "k", UploadID: tc.upload, Parts: completed(tc.parts...)})
			wantCode(t, err, tc.want)
			_, err = f.e.HeadObject(ctx, service(), "mp", "k", false)
			wantCode(t, err, CodeNoSuchKey)
		})
	}
	t.Run("bad part numbers", func(t *testing.T) {
		for _, n := range []int{0, -1, 10001} {
			_, err := f.part(t, f.e, u, n, []byte("x"))
			wantCode(t, err, CodeInvalidArgument)
		}
	})
	// A failed completion leaves the upload usable: skipping the small part completes.
	obj, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "k", UploadID: u.ID, Parts: completed(r1, r3)})
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(big)+4) || obj.ETag != multipartETag(big, []byte("last")) {
		t.Fatalf("object %+v", obj)
	}
	if blobs := f.blobs(t); len(blobs) != 1 {
		t.Fatalf("unused part blobs must go too; left %v", blobs)
	}
}

func TestMultipartReuploadedPart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	u := f.create(t, service(), "mp", "k")
	f.mustPart(t, u, 1, []byte("first try"))
	second := f.mustPart(t, u, 1, []byte("second try"))
	l, err := f.e.ListParts(ctx, service(), ListParts{Bucket: "mp", Key: "k", UploadID: u.ID})
	if err != nil || len(l.Parts) != 1 || l.Parts[0].ETag != etagOf([]byte("second try")) || l.Upload.Size != 10 {
		t.Fatalf("parts %+v (upload size %d), %v; want one row with the second upload", l.Parts, l.Upload.Size, err)
	}
	if blobs := f.blobs(t); len(blobs) != 1 {
		t.Fatalf("the replaced part's blob must go; have %v", blobs)
	}
	if _, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "k", UploadID: u.ID, Parts: completed(second)}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.read(t, service(), "mp", "k"); err != nil || string(got) != "second try" {
		t.Fatalf("read %q, %v", got, err)
	}
}

func TestMultipartAbort(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	u := f.create(t, service(), "mp", "k")
	f.mustPart(t, u, 1, []byte("one"))
	f.mustPart(t, u, 2, []byte("two"))
	if n := len(f.blobs(t)); n != 2 {
		t.Fatalf("%d part blobs, want 2", n)
	}
	if err := f.e.AbortMultipartUpload(ctx, service(), "mp", "k", u.ID); err != nil {
		t.Fatal(err)
	}
	if blobs := f.blobs(t); len(blobs) != 0 {
		t.Fatalf("abort left %v", blobs)
	}
	wantCode(t, f.e.AbortMultipartUpload(ctx, service(), "mp", "k", u.ID), CodeNoSuchUpload)
	_, err := f.part(t, f.e, u, 3, []byte("late"))
	wantCode(t, err, CodeNoSuchUpload)
	wantCode(t, f.e.AbortMultipartUpload(ctx, service(), "mp", "other-key", u.ID), CodeNoSuchUpload)
	if blobs := f.blobs(t); len(blobs) != 0 {
		t.Fatalf("a part for an aborted upload left %v", blobs)
	}
}

func TestMultipartCrashBetweenPartWriteAndRow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	u := f.create(t, service(), "mp", "k")
	f.mustPart(t, u, 1, []byte("kept"))
	f.e.hooks.afterBlobWrite = func() error { runtime.Goexit(); return nil }
	crashDuring(func() { f.part(t, f.e, u, 2, []byte("never recorded")) })
	crashDuring(func() { f.part(t, f.e, u, 1, []byte("never replaces part 1")) })
	f.e.hooks.afterBlobWrite = nil
	l, err := f.e.ListParts(ctx, service(), ListParts{Bucket: "mp", Key: "k", UploadID: u.ID})
	if err != nil || len(l.Parts) != 1 || l.Parts[0].ETag != etagOf([]byte("kept")) {
		t.Fatalf("parts after crash %+v, %v", l.Parts, err)
	}
	if n := len(f.blobs(t)); n != 3 {
		t.Fatalf("%d blobs before the sweep, want 3 (part 1 + 2 orphans)", n)
	}
	if st, err := f.e.Sweep(ctx); err != nil || st.Removed != 0 {
		t.Fatalf("early sweep %+v %v", st, err)
	}
	f.advance(2 * time.Minute)
	if st, err := f.e.Sweep(ctx); err != nil || st.Removed != 2 {
		t.Fatalf("sweep %+v %v; want the 2 orphans removed", st, err)
	}
	obj, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "k", UploadID: u.ID})
	if err != nil || obj.Size != 4 {
		t.Fatalf("complete after sweep: %+v %v", obj, err)
	}

	t.Run("crash after compose, before commit", func(t *testing.T) {
		u := f.create(t, service(), "mp", "k2")
		f.mustPart(t, u, 1, []byte("x"))
		f.e.hooks.afterBlobWrite = func() error { runtime.Goexit(); return nil }
		crashDuring(func() {
			f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "k2", UploadID: u.ID})
		})
		f.e.hooks.afterBlobWrite = nil
		_, err := f.e.HeadObject(ctx, service(), "mp", "k2", false)
		wantCode(t, err, CodeNoSuchKey)
		f.advance(2 * time.Minute)
		if st, err := f.e.Sweep(ctx); err != nil || st.Removed != 1 {
			t.Fatalf("sweep %+v %v; want the composed orphan removed", st, err)
		}
		if _, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "k2", UploadID: u.ID}); err != nil {
			t.Fatalf("retried completion: %v", err)
		}
	})
}

func TestMultipartExpiredUploadsSwept(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	old := f.create(t, service(), "mp", "old")
	f.mustPart(t, old, 1, []byte("stale"))
	f.advance(DefaultUploadExpiry - time.Hour)
	fresh := f.create(t, service(), "mp", "fresh")
	f.mustPart(t, fresh, 1, []byte("fresh"))
	if n, err := f.e.SweepUploads(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before expiry aborted %d, %v", n, err)
	}
	f.advance(2 * time.Hour)
	if n, err := f.e.SweepUploads(ctx); err != nil || n != 1 {
		t.Fatalf("sweep aborted %d, %v; want 1", n, err)
	}
	_, err := f.e.ListParts(ctx, service(), ListParts{Bucket: "mp", Key: "old", UploadID: old.ID})
	wantCode(t, err, CodeNoSuchUpload)
	if _, err := f.e.ListParts(ctx, service(), ListParts{Bucket: "mp", Key: "fresh", UploadID: fresh.ID}); err != nil {
		t.Fatalf("fresh upload: %v", err)
	}
	if blobs := f.blobs(t); len(blobs) != 1 || !strings.Contains(blobs[0], "fresh") {
		t.Fatalf("blobs after sweep %v", blobs)
	}
}

// Options.UploadExpiry (STOWAGE_MULTIPART_EXPIRY) replaces the 24 hours: an abandoned
// upload older than it goes, rows and part bytes, and a fresh one stays. A resumable upload
// is a multipart upload too, but it expires by its own TUS expiry, not this one.
func TestMultipartUploadExpirySetting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.e.opts.UploadExpiry = time.Hour
	f.bucket(t, "mp")
	old := f.create(t, service(), "mp", "old")
	f.mustPart(t, old, 1, []byte("stale"))
	f.mustPart(t, old, 2, []byte("stale too"))
	tus, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "mp", Key: "resumable", Length: 10, Expiry: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tus = tusPatch(t, f.e, tus, 0, []byte("resu"), 4)
	f.advance(50 * time.Minute)
	fresh := f.create(t, service(), "mp", "fresh")
	f.mustPart(t, fresh, 1, []byte("fresh"))
	f.advance(20 * time.Minute) // old and the resumable upload are 70 minutes old, fresh 20
	countParts := func(u MultipartUpload) int {
		t.Helper()
		var n int
		if err := f.db.Pool().QueryRow(ctx, `select count(*) from storage.s3_multipart_uploads_parts where upload_id = $1`, u.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	blobsOf := func(key string) int {
		n := 0
		for _, b := range f.blobs(t) {
			if strings.Contains(b, "/mp/"+key+"/") {
				n++
			}
		}
		return n
	}
	if blobsOf("old") != 2 || blobsOf("fresh") != 1 || blobsOf("resumable") != 1 {
		t.Fatalf("blobs before the sweep: %v", f.blobs(t))
	}
	if n := countParts(old); n != 2 {
		t.Fatalf("%d part rows before the sweep", n)
	}
	if n, err := f.e.SweepUploads(ctx); err != nil || n != 1 {
		t.Fatalf("sweep aborted %d, %v; want 1", n, err)
	}
	_, err = f.e.ListParts(ctx, service(), ListParts{Bucket: "mp", Key: "old", UploadID: old.ID})
	wantCode(t, err, CodeNoSuchUpload)
	if n := countParts(old); n != 0 {
		t.Fatalf("%d part rows of the swept upload left", n)
	}
	if _, err := f.e.ListParts(ctx, service(), ListParts{Bucket: "mp", Key: "fresh", UploadID: fresh.ID}); err != nil {
		t.Fatalf("fresh upload: %v", err)
	}
	if blobsOf("old") != 0 || blobsOf("fresh") != 1 || blobsOf("resumable") != 1 {
		t.Fatalf("blobs after the sweep: %v", f.blobs(t))
	}
	// The resumable upload is untouched until its own expiry, then the TUS sweep takes it.
	tus = tusPatch(t, f.e, tus, 4, []byte("mable"), 5)
	f.advance(2 * time.Hour)
	if n, err := f.e.SweepUploads(ctx); err != nil || n != 1 {
		t.Fatalf("second sweep aborted %d, %v; want 1 (fresh)", n, err)
	}
	if n, err := f.e.SweepTusUploads(ctx); err != nil || n != 1 {
		t.Fatalf("TUS sweep removed %d, %v; want 1", n, err)
	}
	_, err = f.e.TusHead(ctx, service(), "mp", "resumable", tus.Version)
	wantCode(t, err, CodeNoSuchUpload)
	if blobs := f.blobs(t); len(blobs) != 0 {
		t.Fatalf("blobs after every upload expired: %v", blobs)
	}
}

// Two engines on one database and one folder are two gateways: an upload started on one
// continues and completes on the other, since nothing lives in process memory.
func TestMultipartAcrossGateways(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	store2, err := filebackend.New(f.root, filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	e2 := New(f.db, store2, Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute, Now: f.e.now})
	p1, p2 := testData(3, 5*mib), []byte("tail")
	u := f.create(t, service(), "mp", "k")
	r1 := f.mustPart(t, u, 1, p1)
	r2, err := f.part(t, e2, u, 2, p2)
	if err != nil {
		t.Fatal(err)
	}
	l, err := e2.ListParts(ctx, service(), ListParts{Bucket: "mp", Key: "k", UploadID: u.ID})
	if err != nil || len(l.Parts) != 2 {
		t.Fatalf("second gateway sees %d parts, %v", len(l.Parts), err)
	}
	obj, err := e2.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "k", UploadID: u.ID, Parts: completed(r1, r2)})
	if err != nil || obj.ETag != multipartETag(p1, p2) {
		t.Fatalf("complete on the second gateway: %+v %v", obj, err)
	}
	if got, err := f.read(t, service(), "mp", "k"); err != nil || !bytes.Equal(got, append(p1, p2...)) {
		t.Fatalf("first gateway reads %d bytes, %v", len(got), err)
	}
}

func TestMultipartRLS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "private")
	f.ownFolderPolicies(t, "private", "select", "insert", "update")
	alice, bob := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	cases := []struct {
		name string
		c    Caller
		key  string
		want Code // -1 = allowed
	}{
		{"own folder", user(alice), alice + "/a.bin", -1},
		{"other's folder", user(bob), alice + "/b.bin", CodeForbidden},
		{"anonymous", anon(), alice + "/c.bin", CodeForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := f.e.CreateMultipartUpload(ctx, tc.c, CreateMultipartUpload{Bucket: "private", Key: tc.key})
			if tc.want != -1 {
				wantCode(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := f.e.UploadPart(ctx, tc.c, UploadPart{Bucket: "private", Key: tc.key, UploadID: u.ID, PartNumber: 1, Body: strings.NewReader("x"), Size: 1})
			if err != nil {
				t.Fatal(err)
			}
			// A user who cannot write the key cannot add parts to, complete or abort it.
			_, err = f.e.UploadPart(ctx, user(bob), UploadPart{Bucket: "private", Key: tc.key, UploadID: u.ID, PartNumber: 2, Body: strings.NewReader("y"), Size: 1})
			wantCode(t, err, CodeForbidden)
			_, err = f.e.CompleteMultipartUpload(ctx, user(bob), CompleteMultipartUpload{Bucket: "private", Key: tc.key, UploadID: u.ID})
			wantCode(t, err, CodeForbidden)
			wantCode(t, f.e.AbortMultipartUpload(ctx, user(bob), "private", tc.key, u.ID), CodeForbidden)
			// The upload tables have RLS without policies: users list nothing.
			l, err := f.e.ListMultipartUploads(ctx, tc.c, ListMultipartUploads{Bucket: "private"})
			if err != nil || len(l.Uploads) != 0 {
				t.Fatalf("user lists %d uploads, %v", len(l.Uploads), err)
			}
			obj, err := f.e.CompleteMultipartUpload(ctx, tc.c, CompleteMultipartUpload{Bucket: "private", Key: tc.key, UploadID: u.ID, Parts: completed(p)})
			if err != nil || obj.Owner != alice {
				t.Fatalf("complete: %+v %v", obj, err)
			}
		})
	}
}

func TestMultipartLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "small", FileSizeLimit: 10, AllowedMimeTypes: []string{"text/*"}}); err != nil {
		t.Fatal(err)
	}
	_, err := f.e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "small", Key: "k", ContentType: "image/png"})
	wantCode(t, err, CodeInvalidMimeType)
	_, err = f.e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "nope", Key: "k"})
	wantCode(t, err, CodeNoSuchBucket)
	_, err = f.e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "small", Key: "../k", ContentType: "text/plain"})
	wantCode(t, err, CodeInvalidKey)
	u, err := f.e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "small", Key: "k", ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		n    int
		body string
		size int64
		want Code // -1 = stored
	}{
		{"declared over the bucket limit", 1, "0123456789x", 11, CodeTooLarge},
		{"streamed over the bucket limit", 1, "0123456789x", -1, CodeTooLarge},
		{"short body", 1, "abc", 5, CodeIncompleteBody},
		{"fits", 1, "012345", 6, -1},
		{"total over the limit", 2, "012345", 6, CodeTooLarge},
		{"replacing keeps the total", 1, "0123456789", 10, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.e.UploadPart(ctx, service(), UploadPart{Bucket: "small", Key: "k", UploadID: u.ID, PartNumber: tc.n, Body: strings.NewReader(tc.body), Size: tc.size})
			if tc.want == -1 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.want)
		})
	}
	if blobs := f.blobs(t); len(blobs) != 1 {
		t.Fatalf("rejected parts left blobs: %v", blobs)
	}
}

func TestUploadPartCopy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	src := testData(4, 6*mib)
	if _, err := f.put(t, service(), "mp", "src", src, false); err != nil {
		t.Fatal(err)
	}
	u := f.create(t, service(), "mp", "dst")
	cp := func(n int, rng string) (Part, error) {
		return f.e.UploadPartCopy(ctx, service(), UploadPartCopy{Bucket: "mp", Key: "dst", UploadID: u.ID, PartNumber: n, SrcBucket: "mp", SrcKey: "src", Range: rng})
	}
	whole, err := cp(1, "")
	if err != nil || whole.ETag != etagOf(src) || whole.Size != int64(len(src)) {
		t.Fatalf("whole copy %+v %v", whole, err)
	}
	ranged, err := cp(2, "bytes=100-199")
	if err != nil || ranged.ETag != etagOf(src[100:200]) || ranged.Size != 100 {
		t.Fatalf("ranged copy %+v %v", ranged, err)
	}
	for _, bad := range []string{"bytes=5-", "bytes=-5", "bytes=10-5", "items=0-1", "bytes=+1-2"} {
		t.Run("range "+bad, func(t *testing.T) {
			_, err := cp(3, bad)
			wantCode(t, err, CodeInvalidArgument)
		})
	}
	// Well-formed but not inside the source: S3's InvalidRange.
	for _, outside := range []string{fmt.Sprintf("bytes=0-%d", len(src)), fmt.Sprintf("bytes=%d-%d", len(src), len(src)+5)} {
		t.Run("range "+outside, func(t *testing.T) {
			_, err := cp(3, outside)
			wantCode(t, err, CodeInvalidRange)
		})
	}
	_, err = f.e.UploadPartCopy(ctx, service(), UploadPartCopy{Bucket: "mp", Key: "dst", UploadID: u.ID, PartNumber: 3, SrcBucket: "mp", SrcKey: "missing"})
	wantCode(t, err, CodeNoSuchKey)
	obj, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "dst", UploadID: u.ID, Parts: completed(whole, ranged)})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, src...), src[100:200]...)
	if got, err := f.read(t, service(), "mp", "dst"); err != nil || !bytes.Equal(got, want) || obj.ETag != multipartETag(src, src[100:200]) {
		t.Fatalf("read %d bytes, %v; etag %s", len(got), err, obj.ETag)
	}
}

func TestListMultipartUploads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	keys := []string{"a", "b/1", "b/2", "c", "c", "d/e/f"}
	ids := map[string][]string{}
	for _, k := range keys {
		u := f.create(t, service(), "mp", k)
		ids[k] = append(ids[k], u.ID)
		f.advance(time.Second) // initiation order is listing order within a key
	}
	render := func(l UploadList) string {
		var s []string
		for _, u := range l.Uploads {
			s = append(s, u.Key)
		}
		return strings.Join(s, ",") + "|" + strings.Join(l.CommonPrefixes, ",")
	}
	cases := []struct {
		name      string
		in        ListMultipartUploads
		want      string
		truncated bool
		nextKey   string
		nextID    string
	}{
		{"all", ListMultipartUploads{}, "a,b/1,b/2,c,c,d/e/f|", false, "", ""},
		{"prefix", ListMultipartUploads{Prefix: "b/"}, "b/1,b/2|", false, "", ""},
		{"prefix is bytes, not a pattern", ListMultipartUploads{Prefix: "_"}, "|", false, "", ""},
		{"delimiter", ListMultipartUploads{Delimiter: "/"}, "a,c,c|b/,d/", false, "", ""},
		{"prefix and delimiter", ListMultipartUploads{Prefix: "d/", Delimiter: "/"}, "|d/e/", false, "", ""},
		{"paged", ListMultipartUploads{MaxUploads: 4}, "a,b/1,b/2,c|", true, "c", ids["c"][0]},
		{"next page", ListMultipartUploads{KeyMarker: "c", UploadIDMarker: ids["c"][0]}, "c,d/e/f|", false, "", ""},
		{"key marker alone skips the key", ListMultipartUploads{KeyMarker: "c"}, "d/e/f|", false, "", ""},
		{"paged on a prefix", ListMultipartUploads{Delimiter: "/", MaxUploads: 2}, "a|b/", true, "b/", ""},
		{"after a prefix", ListMultipartUploads{Delimiter: "/", KeyMarker: "b/"}, "c,c|d/", false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Bucket = "mp"
			l, err := f.e.ListMultipartUploads(ctx, service(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(l); got != tc.want || l.IsTruncated != tc.truncated || l.NextKeyMarker != tc.nextKey || l.NextUploadIDMarker != tc.nextID {
				t.Fatalf("got %s truncated=%v next=%q/%q; want %s %v %q/%q", got, l.IsTruncated, l.NextKeyMarker, l.NextUploadIDMarker,
					tc.want, tc.truncated, tc.nextKey, tc.nextID)
			}
		})
	}
	_, err := f.e.ListMultipartUploads(ctx, service(), ListMultipartUploads{Bucket: "missing"})
	wantCode(t, err, CodeNoSuchBucket)
}
