package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/db"
)

// deleteEnv is one engine over one backend, with a view of the bytes its store holds.
type deleteEnv struct {
	e *Engine
	d *db.DB
	// leftovers lists what the store still holds: blobs, and on an S3 upstream its
	// unfinished multipart uploads too.
	leftovers func(t *testing.T) []string
}

// deleteEnvs runs fn on the file backend and on MinIO (skipped with -short).
func deleteEnvs(t *testing.T, fn func(t *testing.T, env deleteEnv)) {
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		fn(t, deleteEnv{e: f.e, d: f.db, leftovers: f.blobs})
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		g := newS3Gateways(t)
		leftovers := func(t *testing.T) []string {
			t.Helper()
			out := g.upstream(t, "")
			mu, err := g.m.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &g.m.Bucket})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range mu.Uploads {
				out = append(out, "upload:"+*u.Key)
			}
			return out
		}
		fn(t, deleteEnv{e: g.e[0], d: g.e[0].db, leftovers: leftovers})
	})
}

// rowCounts counts what the database still holds for bucket: buckets, uploads, parts,
// TUS rows, blob intents.
func rowCounts(t *testing.T, d *db.DB, bucket string) string {
	t.Helper()
	var b, u, p, tus, in int
	err := d.Pool().QueryRow(context.Background(), `select
		(select count(*) from storage.buckets where id = $1),
		(select count(*) from storage.s3_multipart_uploads where bucket_id = $1),
		(select count(*) from storage.s3_multipart_uploads_parts where bucket_id = $1),
		(select count(*) from stowage.tus_uploads where bucket_id = $1),
		(select count(*) from stowage.blob_intents)`, bucket).Scan(&b, &u, &p, &tus, &in)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("buckets=%d uploads=%d parts=%d tus=%d intents=%d", b, u, p, tus, in)
}

// TestDeleteBucketAbortsUploads: S3's DeleteBucket of a bucket holding only unfinished
// uploads (multipart and resumable) aborts them, bytes and rows, and succeeds.
func TestDeleteBucketAbortsUploads(t *testing.T) {
	deleteEnvs(t, func(t *testing.T, env deleteEnv) {
		ctx := context.Background()
		e := env.e
		if _, err := e.CreateBucket(ctx, service(), CreateBucket{ID: "pending", FileSizeLimit: NoLimit}); err != nil {
			t.Fatal(err)
		}
		u, err := e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "pending", Key: "dir/big.bin"})
		if err != nil {
			t.Fatal(err)
		}
		for n, data := range [][]byte{testData(1, 5*mib), testData(2, 100)} {
			if _, err := e.UploadPart(ctx, service(), UploadPart{Bucket: "pending", Key: u.Key, UploadID: u.ID,
				PartNumber: n + 1, Body: bytes.NewReader(data), Size: int64(len(data))}); err != nil {
				t.Fatal(err)
			}
		}
		// A resumable upload with a first chunk (on S3 a tail blob, below the part minimum).
		tus, err := e.TusCreate(ctx, service(), TusCreate{Bucket: "pending", Key: "resumable.bin", Length: 3 * mib})
		if err != nil {
			t.Fatal(err)
		}
		tusPatch(t, e, tus, 0, testData(3, mib), mib)
		if left := env.leftovers(t); len(left) == 0 {
			t.Fatal("the uploads stored nothing: the test would prove nothing")
		}
		if err := e.DeleteBucket(ctx, service(), "pending", DeleteBucketOptions{AbortUploads: true}); err != nil {
			t.Fatalf("delete of a bucket holding only unfinished uploads: %v", err)
		}
		if got, want := rowCounts(t, env.d, "pending"), "buckets=0 uploads=0 parts=0 tus=0 intents=0"; got != want {
			t.Errorf("rows left: %s, want %s", got, want)
		}
		if left := env.leftovers(t); len(left) != 0 {
			t.Errorf("bytes left in the store: %v", left)
		}
		_, err = e.TusHead(ctx, service(), "pending", "resumable.bin", tus.Version)
		wantCode(t, err, CodeNoSuchUpload)
		// The bucket name is free again.
		if _, err := e.CreateBucket(ctx, service(), CreateBucket{ID: "pending", FileSizeLimit: NoLimit}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeleteBucketKeepsMultipartForREST: without AbortUploads (the REST dialect) an S3
// multipart upload still blocks the delete with the reference's ResourceReferenced (its
// foreign key detail as the message), and stays usable; a resumable upload does not block
// it.
func TestDeleteBucketKeepsMultipartForREST(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "rest")
	u := f.create(t, service(), "rest", "k")
	p := f.mustPart(t, u, 1, []byte("part"))
	err := f.e.DeleteBucket(ctx, service(), "rest", DeleteBucketOptions{})
	wantCode(t, err, CodeResourceReferenced)
	if ge := (*Error)(nil); !errors.As(err, &ge) || ge.Message != `Key (id)=(rest) is still referenced from table "s3_multipart_uploads".` {
		t.Fatalf("message of the refusal: %v", err)
	}
	if _, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "rest", Key: "k", UploadID: u.ID, Parts: completed(p)}); err != nil {
		t.Fatalf("the upload a refused delete saw must still complete: %v", err)
	}
	if _, err := f.e.DeleteObjects(ctx, service(), "rest", []string{"k"}); err != nil {
		t.Fatal(err)
	}
	tus, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "rest", Key: "r", Length: 10})
	if err != nil {
		t.Fatal(err)
	}
	tusPatch(t, f.e, tus, 0, []byte("12345"), 5)
	if err := f.e.DeleteBucket(ctx, service(), "rest", DeleteBucketOptions{}); err != nil {
		t.Fatalf("a resumable upload must not block the delete: %v", err)
	}
	if got, want := rowCounts(t, f.db, "rest"), "buckets=0 uploads=0 parts=0 tus=0 intents=0"; got != want {
		t.Errorf("rows left: %s, want %s", got, want)
	}
	if left := f.blobs(t); len(left) != 0 {
		t.Errorf("bytes left: %v", left)
	}
}

// TestDeleteBucketRacesCompletion runs CompleteMultipartUpload against DeleteBucket: either
// the delete fails with BucketNotEmpty and the object is there, or the delete wins and the
// completion fails; never both, and no bytes are left behind.
func TestDeleteBucketRacesCompletion(t *testing.T) {
	deleteEnvs(t, func(t *testing.T, env deleteEnv) {
		ctx := context.Background()
		e := env.e
		outcomes := map[string]int{}
		for i := 0; i < 8; i++ {
			bucket := fmt.Sprintf("race-%d", i)
			if _, err := e.CreateBucket(ctx, service(), CreateBucket{ID: bucket, FileSizeLimit: NoLimit}); err != nil {
				t.Fatal(err)
			}
			u, err := e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: bucket, Key: "k"})
			if err != nil {
				t.Fatal(err)
			}
			data := testData(int64(i), 1000)
			p, err := e.UploadPart(ctx, service(), UploadPart{Bucket: bucket, Key: "k", UploadID: u.ID, PartNumber: 1,
				Body: bytes.NewReader(data), Size: int64(len(data))})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var delErr, compErr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, compErr = e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: bucket, Key: "k", UploadID: u.ID, Parts: completed(p)})
			}()
			go func() {
				defer wg.Done()
				delErr = e.DeleteBucket(ctx, service(), bucket, DeleteBucketOptions{AbortUploads: true})
			}()
			wg.Wait()
			switch {
			case delErr == nil && compErr == nil:
				t.Fatalf("round %d: both the delete and the completion succeeded", i)
			case delErr == nil:
				outcomes["delete won"]++
				// Its upload (or, mid-assembly, its parts) vanished, or the bucket did.
				if c := CodeOf(compErr); c != CodeNoSuchUpload && c != CodeNoSuchBucket && c != CodeInvalidPart {
					t.Fatalf("round %d: completion after the delete: %v", i, compErr)
				}
			case compErr == nil:
				outcomes["completion won"]++
				wantCode(t, delErr, CodeBucketNotEmpty)
				got, err := e.GetObject(ctx, service(), GetObject{Bucket: bucket, Key: "k"})
				if err != nil {
					t.Fatalf("round %d: completed object: %v", i, err)
				}
				got.Body.Close()
				if _, err := e.DeleteObjects(ctx, service(), bucket, []string{"k"}); err != nil {
					t.Fatal(err)
				}
				if err := e.DeleteBucket(ctx, service(), bucket, DeleteBucketOptions{AbortUploads: true}); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("round %d: both failed: delete %v, completion %v", i, delErr, compErr)
			}
		}
		t.Logf("outcomes: %v", outcomes)
		// A completion that lost may leave its assembled bytes to the sweep (their write
		// intent); after it nothing at all may be left.
		sweepAll(t, e)
		left := env.leftovers(t)
		sort.Strings(left)
		if len(left) != 0 {
			t.Errorf("bytes left after the races: %v", left)
		}
	})
}

// sweepAll runs the sweeps as if every intent had expired.
func sweepAll(t *testing.T, e *Engine) {
	t.Helper()
	now := e.now
	e.now = func() time.Time { return now().Add(48 * time.Hour) }
	defer func() { e.now = now }()
	if _, err := e.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteBucketInterleavings pins the two orders the race test may not hit: a delete
// that commits while a completion is assembling (the completion fails, its bytes go), and a
// delete that meets an upload a transaction holds (a completion committing: BucketNotEmpty,
// and the upload is untouched).
func TestDeleteBucketInterleavings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("delete during assembly", func(t *testing.T) {
		f := newFixture(t)
		f.bucket(t, "mid")
		u := f.create(t, service(), "mid", "k")
		p := f.mustPart(t, u, 1, []byte("part"))
		var delErr error
		f.e.hooks.afterBlobWrite = func() error {
			f.e.hooks.afterBlobWrite = nil
			delErr = f.e.DeleteBucket(ctx, service(), "mid", DeleteBucketOptions{AbortUploads: true})
			return nil
		}
		_, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "mid", Key: "k", UploadID: u.ID, Parts: completed(p)})
		if delErr != nil {
			t.Fatalf("delete while the completion assembled: %v", delErr)
		}
		if err == nil {
			t.Fatal("the completion succeeded into a deleted bucket")
		}
		if left := f.blobs(t); len(left) != 0 {
			t.Errorf("bytes left: %v", left)
		}
		if got, want := rowCounts(t, f.db, "mid"), "buckets=0 uploads=0 parts=0 tus=0 intents=0"; got != want {
			t.Errorf("rows left: %s, want %s", got, want)
		}
	})
	t.Run("upload held by a transaction", func(t *testing.T) {
		f := newFixture(t)
		f.bucket(t, "held")
		u := f.create(t, service(), "held", "k")
		p := f.mustPart(t, u, 1, []byte("part"))
		tx, err := f.db.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `select 1 from storage.s3_multipart_uploads where id = $1 for update`, u.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.e.DeleteBucket(ctx, service(), "held", DeleteBucketOptions{AbortUploads: true}), CodeBucketNotEmpty)
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "held", Key: "k", UploadID: u.ID, Parts: completed(p)}); err != nil {
			t.Fatalf("the upload a refused delete saw must still complete: %v", err)
		}
	})
}
