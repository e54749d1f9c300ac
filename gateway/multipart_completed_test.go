package gateway

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/multipart"
)

// TestMultipartCompleteTwice: a repeated CompleteMultipartUpload of a completed upload
// answers the same result (as S3, which keeps completed upload ids for a while); a
// different part list, another key, an aborted upload or an expired record do not.
func TestMultipartCompleteTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	u, err := f.e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "mp", Key: "k", ChecksumAlgorithm: "CRC32"})
	if err != nil {
		t.Fatal(err)
	}
	p1 := f.mustPart(t, u, 1, testData(1, 5*mib))
	p2 := f.mustPart(t, u, 2, []byte("tail"))
	complete := func(key string, parts []multipart.CompletedPart) (Object, error) {
		return f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: key, UploadID: u.ID, Parts: parts})
	}
	first, err := complete("k", completed(p1, p2))
	if err != nil {
		t.Fatal(err)
	}
	for name, parts := range map[string][]multipart.CompletedPart{"same list": completed(p1, p2), "no list": nil} {
		again, err := complete("k", parts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if again.ETag != first.ETag || again.Size != first.Size || again.Extra.Checksum != first.Extra.Checksum ||
			again.Extra.ChecksumAlgorithm != "CRC32" || again.Extra.ChecksumType != first.Extra.ChecksumType {
			t.Fatalf("%s: %+v, want the first result %+v", name, again, first)
		}
	}
	_, err = complete("k", completed(p1))
	wantCode(t, err, CodeNoSuchUpload)
	_, err = complete("other", completed(p1, p2))
	wantCode(t, err, CodeNoSuchUpload)

	aborted := f.create(t, service(), "mp", "a")
	ap := f.mustPart(t, aborted, 1, []byte("x"))
	if err := f.e.AbortMultipartUpload(ctx, service(), "mp", "a", aborted.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "a", UploadID: aborted.ID, Parts: completed(ap)})
	wantCode(t, err, CodeNoSuchUpload)

	// Kept for CompletedRetention, then swept.
	f.advance(CompletedRetention - time.Minute)
	if n, err := f.e.SweepCompletedUploads(ctx); err != nil || n != 0 {
		t.Fatalf("early sweep removed %d (%v)", n, err)
	}
	if _, err := complete("k", completed(p1, p2)); err != nil {
		t.Fatalf("before the retention ends: %v", err)
	}
	f.advance(2 * time.Minute)
	if n, err := f.e.SweepCompletedUploads(ctx); err != nil || n != 1 {
		t.Fatalf("sweep removed %d (%v), want 1", n, err)
	}
	_, err = complete("k", completed(p1, p2))
	wantCode(t, err, CodeNoSuchUpload)
}

// TestMultipartConcurrentCompletions: two completions of one upload with the same list
// both answer the one result; one object, no bytes left over.
func TestMultipartConcurrentCompletions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "mp")
	for round := 0; round < 4; round++ {
		u := f.create(t, service(), "mp", "k")
		p := f.mustPart(t, u, 1, testData(int64(round), 1000))
		var wg sync.WaitGroup
		var objs [2]Object
		var errs [2]error
		for i := range objs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				objs[i], errs[i] = f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mp", Key: "k", UploadID: u.ID, Parts: completed(p)})
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || objs[0].ETag != objs[1].ETag {
			t.Fatalf("round %d: %v / %v, ETags %s %s", round, errs[0], errs[1], objs[0].ETag, objs[1].ETag)
		}
		if blobs := f.blobs(t); len(blobs) != 1 {
			t.Fatalf("round %d: blobs %v, want the object's only", round, blobs)
		}
	}
}
