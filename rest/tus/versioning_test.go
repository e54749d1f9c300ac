package tus

import (
	"context"
	"io"
	"testing"

	"github.com/stowage/stowage/gateway"
)

// TestUploadVersionID: the request that completes a resumable upload into a versioned
// bucket (the last PATCH, or a POST creation-with-upload carrying every byte) answers
// x-amz-version-id naming the version it wrote, as S3's PutObject does; earlier PATCHes and
// never-versioned buckets answer without it.
func TestUploadVersionID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.engine.ServiceCaller("")
	f.bucket("tusplain", nil)
	f.bucket("tusver", nil)
	if err := f.engine.SetBucketVersioning(ctx, svc, "tusver", gateway.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	read := func(key, id string) string {
		t.Helper()
		o, err := f.engine.GetObject(ctx, svc, gateway.GetObject{Bucket: "tusver", Key: key, VersionID: id})
		if err != nil {
			t.Fatalf("version %q of %s: %v", id, key, err)
		}
		defer o.Body.Close()
		b, err := io.ReadAll(o.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	upsert := []string{"x-upsert", "true"}

	loc := f.create(f.service, 10, meta("tusver", "f.bin"), upsert...)
	r := f.must(f.patch(loc, f.service, 0, "01234"), 204)
	if _, ok := r.header["X-Amz-Version-Id"]; ok {
		t.Fatalf("an unfinished upload answered x-amz-version-id: %v", r.header)
	}
	r = f.must(f.patch(loc, f.service, 5, "56789"), 204)
	first := r.header.Get("x-amz-version-id")
	if r.header.Get("Tus-Complete") != "1" || first == "" || read("f.bin", first) != "0123456789" {
		t.Fatalf("final PATCH: version %q, headers %v", first, r.header)
	}

	// Creation with upload: the POST itself completes the upload.
	r = f.must(f.do("POST", "/upload/resumable", f.service, "abcdef", "Tus-Resumable", "1.0.0", "Upload-Length", "6",
		"Upload-Metadata", meta("tusver", "f.bin"), "Content-Type", "application/offset+octet-stream", "x-upsert", "true"), 201)
	second := r.header.Get("x-amz-version-id")
	if second == "" || second == first || read("f.bin", second) != "abcdef" || read("f.bin", first) != "0123456789" {
		t.Fatalf("creation-with-upload: version %q (first %q), headers %v", second, first, r.header)
	}
	if read("f.bin", "") != "abcdef" {
		t.Fatal("the latest version is not the last upload")
	}

	if err := f.engine.SetBucketVersioning(ctx, svc, "tusver", gateway.VersioningSuspended); err != nil {
		t.Fatal(err)
	}
	loc = f.create(f.service, 3, meta("tusver", "f.bin"), upsert...)
	if id := f.must(f.patch(loc, f.service, 0, "xyz"), 204).header.Get("x-amz-version-id"); id != gateway.NullVersionID {
		t.Fatalf("Suspended bucket: version %q, want null", id)
	}

	loc = f.create(f.service, 3, meta("tusplain", "f.bin"))
	r = f.must(f.patch(loc, f.service, 0, "xyz"), 204)
	if _, ok := r.header["X-Amz-Version-Id"]; ok || r.header.Get("Tus-Complete") != "1" {
		t.Fatalf("never-versioned bucket: %v", r.header)
	}
}
