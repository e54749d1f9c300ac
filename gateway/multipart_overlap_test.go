package gateway

import (
	"bytes"
	"context"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
)

// TestUploadPartOverlap: two uploads of one part number overlap; the one that finishes last
// wins and the other's bytes are gone. Upload A has stored its bytes but not committed its
// row when upload B runs from start to end. With part blobs A finishes last (its commit);
// on an upstream S3, which keeps parts itself, B's bytes reached the store last, so B must
// win although A commits after it: the row, ListParts and the completed object agree with
// what the store kept.
func TestUploadPartOverlap(t *testing.T) {
	deleteEnvs(t, func(t *testing.T, env deleteEnv) {
		ctx := context.Background()
		e := env.e
		if _, err := e.CreateBucket(ctx, service(), CreateBucket{ID: "overlap", FileSizeLimit: NoLimit}); err != nil {
			t.Fatal(err)
		}
		u, err := e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "overlap", Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		a, b := testData(1, 1000), testData(2, 1200)
		put := func(data []byte) (Part, error) {
			return e.UploadPart(ctx, service(), UploadPart{Bucket: "overlap", Key: "k", UploadID: u.ID, PartNumber: 1,
				Body: bytes.NewReader(data), Size: int64(len(data))})
		}
		var bPart Part
		var bErr error
		e.hooks.beforePartCommit = func() {
			e.hooks.beforePartCommit = nil
			bPart, bErr = put(b)
		}
		aPart, aErr := put(a)
		if aErr != nil || bErr != nil {
			t.Fatalf("uploads: A %v, B %v", aErr, bErr)
		}
		winner, want := aPart, a
		if _, storeSide := e.store.(backend.Multipart); storeSide {
			winner, want = bPart, b
		}
		l, err := e.ListParts(ctx, service(), ListParts{Bucket: "overlap", Key: "k", UploadID: u.ID})
		if err != nil || len(l.Parts) != 1 || l.Parts[0].ETag != winner.ETag || l.Upload.Size != int64(len(want)) {
			t.Fatalf("parts %+v (size %d), %v; want the one part %s of %d bytes", l.Parts, l.Upload.Size, err, winner.ETag, len(want))
		}
		if _, err := e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "overlap", Key: "k", UploadID: u.ID,
			Parts: completed(l.Parts...)}); err != nil {
			t.Fatalf("completing with the listed part: %v", err)
		}
		if got := readObject(t, e, "overlap", "k"); !bytes.Equal(got, want) {
			t.Fatalf("object holds %d bytes, want the winner's %d", len(got), len(want))
		}
		if left := env.leftovers(t); len(left) != 1 {
			t.Fatalf("store holds %v, want the object only", left)
		}
	})
}
