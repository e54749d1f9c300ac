package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"math/rand"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/backend/s3backend"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
	"github.com/stowage/stowage/multipart"
)

const tusMiB = 1 << 20

// s3Gateways is two engines (two "gateways": own pools, own stores) over one database and
// one MinIO bucket, with a shared clock.
type s3Gateways struct {
	e     [2]*Engine
	m     *miniotest.MinIO
	clock *atomic.Int64
}

func newS3Gateways(t *testing.T) *s3Gateways {
	t.Helper()
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	ctx := context.Background()
	g := &s3Gateways{m: miniotest.Start(t), clock: &atomic.Int64{}}
	g.clock.Store(time.Now().UnixNano())
	url := pgtest.URL(t)
	for i := range g.e {
		d, err := db.Open(ctx, url, db.Options{MaxConns: 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		store, err := s3backend.New(ctx, s3backend.Options{Bucket: g.m.Bucket, Endpoint: g.m.Endpoint, Region: g.m.Region,
			ForcePathStyle: true, AccessKeyID: g.m.AccessKey, SecretAccessKey: g.m.Secret})
		if err != nil {
			t.Fatal(err)
		}
		g.e[i] = New(d, store, Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute,
			Now: func() time.Time { return time.Unix(0, g.clock.Load()) }})
	}
	return g
}

// upstream lists the keys under prefix in the MinIO bucket.
func (g *s3Gateways) upstream(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := g.m.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &g.m.Bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	return keys
}

// partSizes reads the part sizes of the assembled upstream object (HEAD ?partNumber=n).
func (g *s3Gateways) partSizes(t *testing.T, key string) []int64 {
	t.Helper()
	var sizes []int64
	for n := int32(1); ; n++ {
		h, err := g.m.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &g.m.Bucket, Key: &key, PartNumber: aws.Int32(n)})
		if err != nil {
			t.Fatalf("head part %d: %v", n, err)
		}
		sizes = append(sizes, aws.ToInt64(h.ContentLength))
		if aws.ToInt32(h.PartsCount) <= n {
			return sizes
		}
	}
}

func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// patch sends data at offset through e; size -1 hides the length from the engine.
func tusPatch(t *testing.T, e *Engine, up TusUpload, offset int64, data []byte, size int64) TusUpload {
	t.Helper()
	got, err := e.TusPatch(context.Background(), service(), TusPatch{Bucket: up.Bucket, Key: up.Key, Version: up.Version,
		Offset: offset, Length: -1, Body: bytes.NewReader(data), Size: size})
	if err != nil {
		t.Fatalf("patch at %d (%d bytes): %v", offset, len(data), err)
	}
	if got.Offset != offset+int64(len(data)) {
		t.Fatalf("offset after patch %d, want %d", got.Offset, offset+int64(len(data)))
	}
	return got
}

// wantObjectMD5 fails unless bucket/key's ETag is the MD5 of data (the reference's ETag of
// a finished resumable upload).
func wantObjectMD5(t *testing.T, e *Engine, bucket, key string, data []byte) {
	t.Helper()
	obj, err := e.HeadObject(context.Background(), service(), bucket, key, false)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	if want := `"` + hex.EncodeToString(sum[:]) + `"`; obj.ETag != want {
		t.Fatalf("ETag of %s/%s = %s, want the MD5 of its bytes %s", bucket, key, obj.ETag, want)
	}
}

func readObject(t *testing.T, e *Engine, bucket, key string) []byte {
	t.Helper()
	r, err := e.GetObject(context.Background(), service(), GetObject{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkParts asserts S3's rule on the assembled object: every part but the last holds at
// least 5 MiB, and the parts add up to the object.
func checkParts(t *testing.T, sizes []int64, want []int64) {
	t.Helper()
	for i, s := range sizes[:len(sizes)-1] {
		if s < multipart.MinPartSize {
			t.Errorf("part %d holds %d bytes, under the 5 MiB minimum", i+1, s)
		}
	}
	if want != nil && !equalInts(sizes, want) {
		t.Errorf("part sizes %v, want %v", sizes, want)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTusS3Tail runs resumable uploads against MinIO with chunks below S3's minimum part
// size, alternating between two gateways on one database.
func TestTusS3Tail(t *testing.T) {
	g := newS3Gateways(t)
	ctx := context.Background()
	if _, err := g.e[0].CreateBucket(ctx, service(), CreateBucket{ID: "tus-s3", FileSizeLimit: NoLimit}); err != nil {
		t.Fatal(err)
	}
	start := func(t *testing.T, key string, length int64) TusUpload {
		t.Helper()
		up, err := g.e[0].TusCreate(ctx, service(), TusCreate{Bucket: "tus-s3", Key: key, Length: length, Upsert: true})
		if err != nil {
			t.Fatal(err)
		}
		return up
	}

	t.Run("MixedChunksAcrossGateways", func(t *testing.T) {
		chunks := []int{1 * tusMiB, 3 * tusMiB, 6 * tusMiB, 1 * tusMiB, 1 * tusMiB, 3 * tusMiB, 2*tusMiB + 5}
		total := 0
		for _, n := range chunks {
			total += n
		}
		data := randomBytes(1, total)
		up := start(t, "mixed.bin", int64(total))
		off := 0
		for i, n := range chunks {
			e, other := g.e[i%2], g.e[(i+1)%2]
			up = tusPatch(t, e, up, int64(off), data[off:off+n], int64(n))
			off += n
			head, err := other.TusHead(ctx, service(), up.Bucket, up.Key, up.Version)
			if err != nil || head.Offset != int64(off) {
				t.Fatalf("after chunk %d the other gateway sees offset %d (%v), want %d", i, head.Offset, err, off)
			}
		}
		if !up.Completed {
			t.Fatal("upload not completed")
		}
		if got := readObject(t, g.e[1], "tus-s3", "mixed.bin"); !bytes.Equal(got, data) {
			t.Fatalf("object differs from the uploaded bytes (%d vs %d bytes)", len(got), len(data))
		}
		wantObjectMD5(t, g.e[0], "tus-s3", "mixed.bin", data)
		key := g.e[0].blobKey("tus-s3", "mixed.bin", up.Version)
		// 1+3+6 → part 1; 1+1+3 → part 2; the last chunk is the last part.
		checkParts(t, g.partSizes(t, key), []int64{10 * tusMiB, 5 * tusMiB, 2*tusMiB + 5})
		if left := g.upstream(t, key+".tail/"); len(left) != 0 {
			t.Errorf("tail blobs left upstream: %v", left)
		}
	})

	t.Run("UnknownSizeChunks", func(t *testing.T) {
		chunks := []int{1 * tusMiB, 6 * tusMiB, 1 * tusMiB}
		data := randomBytes(2, 8*tusMiB)
		up := start(t, "chunked.bin", int64(len(data)))
		off := 0
		for i, n := range chunks {
			up = tusPatch(t, g.e[i%2], up, int64(off), data[off:off+n], -1)
			off += n
		}
		if got := readObject(t, g.e[0], "tus-s3", "chunked.bin"); !up.Completed || !bytes.Equal(got, data) {
			t.Fatalf("completed %v; object differs from the uploaded bytes", up.Completed)
		}
		wantObjectMD5(t, g.e[1], "tus-s3", "chunked.bin", data)
		checkParts(t, g.partSizes(t, g.e[0].blobKey("tus-s3", "chunked.bin", up.Version)), []int64{7 * tusMiB, 1 * tusMiB})
	})

	t.Run("CrashBetweenTailWriteAndSwap", func(t *testing.T) {
		data := randomBytes(3, 7*tusMiB)
		up := start(t, "crash.bin", int64(len(data)))
		up = tusPatch(t, g.e[0], up, 0, data[:tusMiB], tusMiB)
		key := g.e[0].blobKey("tus-s3", "crash.bin", up.Version)

		g.e[0].hooks.afterBlobWrite = func() error { runtime.Goexit(); return nil }
		crashDuring(func() {
			g.e[0].TusPatch(ctx, service(), TusPatch{Bucket: up.Bucket, Key: up.Key, Version: up.Version,
				Offset: tusMiB, Length: -1, Body: bytes.NewReader(data[tusMiB : 2*tusMiB]), Size: tusMiB})
		})
		g.e[0].hooks.afterBlobWrite = nil

		head, err := g.e[1].TusHead(ctx, service(), up.Bucket, up.Key, up.Version)
		if err != nil || head.Offset != tusMiB {
			t.Fatalf("after the crash offset %d (%v), want the committed %d", head.Offset, err, tusMiB)
		}
		if tails := g.upstream(t, key+".tail/"); len(tails) != 2 {
			t.Fatalf("want the committed tail and the orphan upstream, got %v", tails)
		}
		st, err := g.e[1].Sweep(ctx)
		if err != nil || st.Removed != 0 {
			t.Fatalf("sweep before the write intent expires: %+v %v", st, err)
		}
		g.clock.Add(int64(2 * time.Minute))
		if st, err = g.e[1].Sweep(ctx); err != nil || st.Removed != 1 {
			t.Fatalf("sweep = %+v, %v; want the orphan tail removed", st, err)
		}
		if tails := g.upstream(t, key+".tail/"); len(tails) != 1 {
			t.Fatalf("after the sweep want the committed tail only, got %v", tails)
		}
		// The client retries the lost chunk on the other gateway and finishes.
		up = tusPatch(t, g.e[1], up, tusMiB, data[tusMiB:2*tusMiB], tusMiB)
		up = tusPatch(t, g.e[0], up, 2*tusMiB, data[2*tusMiB:], int64(len(data)-2*tusMiB))
		if got := readObject(t, g.e[1], "tus-s3", "crash.bin"); !up.Completed || !bytes.Equal(got, data) {
			t.Fatalf("completed %v; object differs from the uploaded bytes", up.Completed)
		}
		wantObjectMD5(t, g.e[0], "tus-s3", "crash.bin", data) // the lost chunk's bytes are hashed once
		checkParts(t, g.partSizes(t, key), []int64{7 * tusMiB})
		if left := g.upstream(t, key+".tail/"); len(left) != 0 {
			t.Errorf("tail blobs left upstream: %v", left)
		}
	})

	t.Run("SweepTakesSlowTailWrite", func(t *testing.T) {
		// A tail write that outlives its write intent: the sweep removes the new tail blob
		// before the swap, so the swap must fail rather than record missing bytes.
		data := randomBytes(6, 3*tusMiB)
		up := start(t, "slow.bin", int64(len(data)))
		up = tusPatch(t, g.e[0], up, 0, data[:tusMiB], tusMiB)
		key := g.e[0].blobKey("tus-s3", "slow.bin", up.Version)
		var swept SweepStats
		g.e[0].hooks.afterBlobWrite = func() error {
			g.clock.Add(int64(2 * time.Minute))
			var err error
			swept, err = g.e[1].Sweep(ctx)
			return err
		}
		_, err := g.e[0].TusPatch(ctx, service(), TusPatch{Bucket: up.Bucket, Key: up.Key, Version: up.Version,
			Offset: tusMiB, Length: -1, Body: bytes.NewReader(data[tusMiB : 2*tusMiB]), Size: tusMiB})
		g.e[0].hooks.afterBlobWrite = nil
		wantCode(t, err, CodeInternal)
		if swept.Removed != 1 {
			t.Fatalf("sweep during the write removed %d blobs, want the new tail", swept.Removed)
		}
		head, err := g.e[1].TusHead(ctx, service(), up.Bucket, up.Key, up.Version)
		if err != nil || head.Offset != tusMiB {
			t.Fatalf("offset %d (%v), want the committed %d", head.Offset, err, tusMiB)
		}
		up = tusPatch(t, g.e[1], up, tusMiB, data[tusMiB:], int64(len(data)-tusMiB))
		if got := readObject(t, g.e[0], "tus-s3", "slow.bin"); !up.Completed || !bytes.Equal(got, data) {
			t.Fatalf("completed %v; object differs from the uploaded bytes", up.Completed)
		}
		wantObjectMD5(t, g.e[0], "tus-s3", "slow.bin", data)
		if left := g.upstream(t, key+".tail/"); len(left) != 0 {
			t.Errorf("tail blobs left upstream: %v", left)
		}
	})

	t.Run("DeferredLengthDeclaredAtTail", func(t *testing.T) {
		data := randomBytes(4, 2*tusMiB)
		up := start(t, "deferred.bin", -1)
		up = tusPatch(t, g.e[0], up, 0, data, int64(len(data)))
		up, err := g.e[1].TusPatch(ctx, service(), TusPatch{Bucket: up.Bucket, Key: up.Key, Version: up.Version,
			Offset: int64(len(data)), Length: int64(len(data)), Size: 0})
		if err != nil || !up.Completed {
			t.Fatalf("declaring the length at the offset: completed %v, %v", up.Completed, err)
		}
		if got := readObject(t, g.e[0], "tus-s3", "deferred.bin"); !bytes.Equal(got, data) {
			t.Fatal("object differs from the uploaded bytes")
		}
		wantObjectMD5(t, g.e[0], "tus-s3", "deferred.bin", data)
	})

	t.Run("TerminateDropsTail", func(t *testing.T) {
		data := randomBytes(5, 3*tusMiB)
		up := start(t, "terminated.bin", 10*tusMiB)
		up = tusPatch(t, g.e[0], up, 0, data, int64(len(data)))
		key := g.e[0].blobKey("tus-s3", "terminated.bin", up.Version)
		if tails := g.upstream(t, key+".tail/"); len(tails) != 1 {
			t.Fatalf("want one tail upstream, got %v", tails)
		}
		if err := g.e[1].TusTerminate(ctx, service(), up.Bucket, up.Key, up.Version, true); err != nil {
			t.Fatal(err)
		}
		if left := g.upstream(t, key); len(left) != 0 {
			t.Errorf("blobs left upstream after termination: %v", left)
		}
	})
}

// On the file store every chunk is a blob and a row until completion, so the number of
// chunks is capped: the PATCH past the cap is refused (400) before its body is read and
// leaves the offset and the stored chunks as they were. Such an upload cannot grow any more;
// the client starts a new one with larger chunks.
func TestTusChunkCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.e.opts.MaxTusChunks = 3
	ctx := context.Background()
	f.bucket(t, "tc")
	data := randomBytes(7, 40)
	up, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "tc", Key: "k", Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		up = tusPatch(t, f.e, up, int64(i), data[i:i+1], 1)
	}
	blobs := len(f.blobs(t))
	body := &countingReader{r: bytes.NewReader(data[3:4])}
	_, err = f.e.TusPatch(ctx, service(), TusPatch{Bucket: "tc", Key: "k", Version: up.Version, Offset: 3, Length: -1, Body: body, Size: 1})
	wantCode(t, err, CodeInvalidArgument)
	if body.n != 0 {
		t.Fatalf("the refused chunk's body was read (%d bytes)", body.n)
	}
	if n := len(f.blobs(t)); n != blobs {
		t.Fatalf("%d blobs after the refused chunk, want %d", n, blobs)
	}
	got, err := f.e.TusHead(ctx, service(), "tc", "k", up.Version)
	if err != nil || got.Offset != 3 {
		t.Fatalf("offset after the refused chunk: %+v, %v", got, err)
	}
	if _, err := f.e.TusPatch(ctx, service(), TusPatch{Bucket: "tc", Key: "k", Version: up.Version, Offset: 3, Length: -1,
		Body: bytes.NewReader(data[3:]), Size: int64(len(data) - 3)}); CodeOf(err) != CodeInvalidArgument {
		t.Fatalf("a big last chunk past the cap: %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// On upstream S3 the part cap is S3's 10000 (or a lower MaxTusChunks): the PATCH that would
// need one part more is refused with 400 before it reads its body, not with S3's own error
// after streaming it.
func TestTusS3PartCap(t *testing.T) {
	t.Parallel()
	g := newS3Gateways(t)
	e := g.e[0]
	e.opts.MaxTusChunks = 2
	ctx := context.Background()
	if _, err := e.CreateBucket(ctx, service(), CreateBucket{ID: "tus-cap", FileSizeLimit: NoLimit}); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(5, 3*int(multipart.MinPartSize))
	up, err := e.TusCreate(ctx, service(), TusCreate{Bucket: "tus-cap", Key: "k", Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		off := int64(i) * multipart.MinPartSize
		up = tusPatch(t, e, up, off, data[off:off+multipart.MinPartSize], multipart.MinPartSize)
	}
	body := &countingReader{r: bytes.NewReader(data[2*multipart.MinPartSize:])}
	_, err = e.TusPatch(ctx, service(), TusPatch{Bucket: "tus-cap", Key: "k", Version: up.Version, Offset: 2 * multipart.MinPartSize,
		Length: -1, Body: body, Size: multipart.MinPartSize})
	wantCode(t, err, CodeInvalidArgument)
	if body.n != 0 {
		t.Fatalf("the refused chunk's body was read (%d bytes)", body.n)
	}
	if got, err := e.TusHead(ctx, service(), "tus-cap", "k", up.Version); err != nil || got.Offset != 2*multipart.MinPartSize {
		t.Fatalf("offset after the refused chunk: %+v, %v", got, err)
	}
}
