package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"testing"

	"github.com/stowage/stowage/multipart"
)

// TestTusETagIsObjectMD5: a finished resumable upload's ETag is the MD5 of the object's
// bytes, as the reference's, however the bytes arrived: chunks, creation-with-upload, no
// bytes at all, a chunk cut off mid-stream and sent again.
func TestTusETagIsObjectMD5(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "md5")
	ctx := context.Background()

	t.Run("chunks", func(t *testing.T) {
		data := testData(11, 2500)
		up, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "md5", Key: "chunks", Length: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		up = tusPatch(t, f.e, up, 0, data[:1000], 1000)
		up = tusPatch(t, f.e, up, 1000, data[1000:1001], -1)
		tusPatch(t, f.e, up, 1001, data[1001:], int64(len(data)-1001))
		wantObjectMD5(t, f.e, "md5", "chunks", data)
	})
	t.Run("creation with upload", func(t *testing.T) {
		data := testData(12, 700)
		up, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "md5", Key: "created", Length: int64(len(data)),
			Body: bytes.NewReader(data[:300]), BodySize: 300})
		if err != nil || up.Offset != 300 {
			t.Fatalf("create with 300 bytes: offset %d, %v", up.Offset, err)
		}
		tusPatch(t, f.e, up, 300, data[300:], int64(len(data)-300))
		wantObjectMD5(t, f.e, "md5", "created", data)
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "md5", Key: "empty", Length: 0}); err != nil {
			t.Fatal(err)
		}
		wantObjectMD5(t, f.e, "md5", "empty", nil)
	})
	t.Run("deferred length declared at the offset", func(t *testing.T) {
		data := testData(13, 900)
		up, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "md5", Key: "deferred", Length: -1})
		if err != nil {
			t.Fatal(err)
		}
		up = tusPatch(t, f.e, up, 0, data, int64(len(data)))
		up, err = f.e.TusPatch(ctx, service(), TusPatch{Bucket: "md5", Key: "deferred", Version: up.Version,
			Offset: int64(len(data)), Length: int64(len(data))})
		if err != nil || !up.Completed {
			t.Fatalf("declaring the length: %v, completed %v", err, up.Completed)
		}
		wantObjectMD5(t, f.e, "md5", "deferred", data)
	})
	t.Run("chunk cut off and sent again", func(t *testing.T) {
		data := testData(14, 2000)
		up, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "md5", Key: "cut", Length: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		up = tusPatch(t, f.e, up, 0, data[:500], 500)
		// 700 of the next 1500 bytes arrive, then the connection drops.
		cut := io.MultiReader(bytes.NewReader(data[500:1200]), errReader{})
		if _, err := f.e.TusPatch(ctx, service(), TusPatch{Bucket: "md5", Key: "cut", Version: up.Version,
			Offset: 500, Length: -1, Body: cut, Size: 1500}); err == nil {
			t.Fatal("a cut-off chunk was accepted")
		}
		tusPatch(t, f.e, up, 500, data[500:], 1500)
		wantObjectMD5(t, f.e, "md5", "cut", data)
	})
	t.Run("begun before migration 14", func(t *testing.T) {
		// An upload without a running MD5 keeps the multipart form of its chunks.
		data := testData(15, 1200)
		up, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "md5", Key: "old", Length: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		up = tusPatch(t, f.e, up, 0, data[:600], 600)
		if _, err := f.db.Pool().Exec(ctx, `update stowage.tus_uploads set md5_state = null where version = $1`, up.Version); err != nil {
			t.Fatal(err)
		}
		tusPatch(t, f.e, up, 600, data[600:], 600)
		obj, err := f.e.HeadObject(ctx, service(), "md5", "old", false)
		if err != nil {
			t.Fatal(err)
		}
		if want := multipart.ETag([]string{md5hex(data[:600]), md5hex(data[600:])}); obj.ETag != want {
			t.Fatalf("ETag %s, want the multipart form of its 2 chunks %s", obj.ETag, want)
		}
	})
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}
