package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stowage/stowage/multipart"
)

// layoutRows counts the part layout rows the engine's database holds.
func layoutRows(t *testing.T, e *Engine) int {
	t.Helper()
	var n int
	if err := e.db.Pool().QueryRow(context.Background(), `select count(*) from stowage.object_parts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// readPart reads part n of key through GetObject and checks StatObject agrees.
func readPart(t *testing.T, e *Engine, key string, n int) (ObjectReader, []byte, error) {
	t.Helper()
	ctx := context.Background()
	in := GetObject{Bucket: "cond", Key: key, PartNumber: n}
	st, serr := e.StatObject(ctx, service(), in)
	r, err := e.GetObject(ctx, service(), in)
	if CodeOf(err) != CodeOf(serr) || (err == nil) != (serr == nil) {
		t.Fatalf("GetObject %v, StatObject %v", err, serr)
	}
	if err != nil {
		return r, nil, err
	}
	defer r.Body.Close()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if st.Range != r.Range || st.Partial != r.Partial || st.PartsCount != r.PartsCount {
		t.Fatalf("StatObject %+v/%v/%d, GetObject %+v/%v/%d", st.Range, st.Partial, st.PartsCount, r.Range, r.Partial, r.PartsCount)
	}
	return r, data, nil
}

// TestObjectParts: a completed multipart upload keeps its part layout: GetObject and
// StatObject with PartNumber read exactly one part (by its uploaded number, gaps included),
// ListObjectParts pages the parts with their checksums, and the layout follows the bytes
// through copy, move, overwrite and delete.
func TestObjectParts(t *testing.T) {
	t.Parallel()
	for _, be := range condBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			e := be.e
			ctx := context.Background()
			u, err := e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "cond", Key: "mp", ChecksumAlgorithm: "CRC32"})
			if err != nil {
				t.Fatal(err)
			}
			numbers := []int{1, 2, 5} // S3 allows gaps; the parts keep their numbers
			datas := [][]byte{testData(1, int(multipart.MinPartSize)), testData(2, int(multipart.MinPartSize)+7), testData(3, 123)}
			var list []multipart.CompletedPart
			var sums []string
			for i, n := range numbers {
				p, err := e.UploadPart(ctx, service(), UploadPart{Bucket: "cond", Key: "mp", UploadID: u.ID, PartNumber: n,
					Body: bytes.NewReader(datas[i]), Size: int64(len(datas[i]))})
				if err != nil {
					t.Fatal(err)
				}
				list = append(list, multipart.CompletedPart{PartNumber: n, ETag: p.ETag})
				sums = append(sums, p.Checksum)
			}
			if _, err := e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: "cond", Key: "mp", UploadID: u.ID, Parts: list}); err != nil {
				t.Fatal(err)
			}
			var offset int64
			for i, n := range numbers {
				r, data, err := readPart(t, e, "mp", n)
				if err != nil {
					t.Fatalf("part %d: %v", n, err)
				}
				want := ByteRange{Start: offset, End: offset + int64(len(datas[i])) - 1}
				if !bytes.Equal(data, datas[i]) || !r.Partial || r.Range != want || r.PartsCount != 3 {
					t.Fatalf("part %d: %d bytes, range %+v (want %+v), parts %d", n, len(data), r.Range, want, r.PartsCount)
				}
				offset += int64(len(datas[i]))
			}
			for _, n := range []int{3, 6} {
				if _, _, err := readPart(t, e, "mp", n); CodeOf(err) != CodeInvalidRange {
					t.Fatalf("part %d: %v, want InvalidRange", n, err)
				}
			}

			obj, err := e.HeadObject(ctx, service(), "cond", "mp", false)
			if err != nil {
				t.Fatal(err)
			}
			pages := []struct {
				marker, limit int
				want          []int
				truncated     bool
			}{
				{0, 1000, []int{1, 2, 5}, false},
				{0, 2, []int{1, 2}, true},
				{2, 1, []int{5}, false},
				{5, 10, nil, false},
			}
			for _, p := range pages {
				l, err := e.ListObjectParts(ctx, service(), obj, p.marker, p.limit)
				if err != nil {
					t.Fatal(err)
				}
				var got []int
				for _, part := range l.Parts {
					got = append(got, part.Number)
					i := map[int]int{1: 0, 2: 1, 5: 2}[part.Number]
					if part.Size != int64(len(datas[i])) || part.ChecksumAlgorithm != "CRC32" || part.Checksum != sums[i] {
						t.Fatalf("part %+v, want size %d CRC32 %s", part, len(datas[i]), sums[i])
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(p.want) || l.Total != 3 || l.IsTruncated != p.truncated ||
					(len(got) > 0 && l.NextPartNumberMarker != got[len(got)-1]) {
					t.Fatalf("page after %d (max %d): %v total %d truncated %v next %d", p.marker, p.limit, got, l.Total, l.IsTruncated, l.NextPartNumberMarker)
				}
			}

			// A copy and a move keep the multipart ETag, and so the layout.
			if _, err := e.CopyObject(ctx, service(), CopyObject{SrcBucket: "cond", SrcKey: "mp", DstBucket: "cond", DstKey: "copy", Upsert: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.MoveObject(ctx, service(), CopyObject{SrcBucket: "cond", SrcKey: "copy", DstBucket: "cond", DstKey: "moved"}); err != nil {
				t.Fatal(err)
			}
			if r, data, err := readPart(t, e, "moved", 2); err != nil || !bytes.Equal(data, datas[1]) || r.PartsCount != 3 {
				t.Fatalf("moved copy's part 2: %v, %d bytes, %d parts", err, len(data), r.PartsCount)
			}
			if got := layoutRows(t, e); got != 6 {
				t.Fatalf("%d layout rows, want 3 for mp and 3 for moved", got)
			}
			// Overwritten by a plain upload, the key is a single part again; deleted, its
			// layout is gone with its bytes.
			if _, err := condPut(e, "mp", []byte("plain"), WriteConditions{}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := readPart(t, e, "mp", 2); CodeOf(err) != CodeInvalidRange {
				t.Fatalf("part 2 of a plain object: %v", err)
			}
			if _, err := e.DeleteObjects(ctx, service(), "cond", []string{"moved"}); err != nil {
				t.Fatal(err)
			}
			if got := layoutRows(t, e); got != 0 {
				t.Fatalf("%d layout rows left", got)
			}
		})
	}
}

// TestPlainObjectPart: an object that is not multipart has one part, 1, the whole object,
// without a parts count (S3 sends x-amz-mp-parts-count for multipart objects only).
func TestPlainObjectPart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "cond")
	if _, err := condPut(f.e, "plain", []byte("whole object"), WriteConditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := condPut(f.e, "empty", nil, WriteConditions{}); err != nil {
		t.Fatal(err)
	}
	r, data, err := readPart(t, f.e, "plain", 1)
	if err != nil || string(data) != "whole object" || !r.Partial || r.Range != (ByteRange{0, 11}) || r.PartsCount != 0 {
		t.Fatalf("part 1: %v %q %+v %d", err, data, r.Range, r.PartsCount)
	}
	if _, _, err := readPart(t, f.e, "plain", 2); CodeOf(err) != CodeInvalidRange {
		t.Fatalf("part 2: %v", err)
	}
	r, data, err = readPart(t, f.e, "empty", 1)
	if err != nil || len(data) != 0 || r.Range.Length() != 0 {
		t.Fatalf("part 1 of an empty object: %v %q %+v", err, data, r.Range)
	}
	obj, _ := f.e.HeadObject(context.Background(), service(), "cond", "plain", false)
	if l, err := f.e.ListObjectParts(context.Background(), service(), obj, 0, 1000); err != nil || l.Total != 0 || len(l.Parts) != 0 {
		t.Fatalf("parts of a plain object: %+v %v", l, err)
	}
}

// TestTusObjectParts: a finished resumable upload has the reference's ETag, the MD5 of its
// bytes, so S3 sees a plain object: part 1 is the whole object, without a parts count.
func TestTusObjectParts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "cond")
	chunks := [][]byte{testData(7, 1000), testData(8, 500)}
	up, err := f.e.TusCreate(context.Background(), service(), TusCreate{Bucket: "cond", Key: "tus", Length: 1500})
	if err != nil {
		t.Fatal(err)
	}
	up = tusPatch(t, f.e, up, 0, chunks[0], 1000)
	tusPatch(t, f.e, up, 1000, chunks[1], 500)
	whole := append(append([]byte{}, chunks[0]...), chunks[1]...)
	r, data, err := readPart(t, f.e, "tus", 1)
	if err != nil || !bytes.Equal(data, whole) || r.PartsCount != 0 {
		t.Fatalf("part 1: %v, %d bytes, %d parts; want the whole object, no parts count", err, len(data), r.PartsCount)
	}
	if _, _, err := readPart(t, f.e, "tus", 2); CodeOf(err) != CodeInvalidRange {
		t.Fatalf("part 2: %v", err)
	}
}
