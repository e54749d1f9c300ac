package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/inline"
)

// Small objects kept in Postgres (inline.Store, the fixture's default) read back whole, by
// range, into a caller's buffer, under the public-bucket rule and as a user under RLS; a
// copy and an overwrite leave exactly one row per live version; a body larger than the
// bound goes to a file.
func TestSmallObjectsInPostgres(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "pub", Public: true, FileSizeLimit: NoLimit}); err != nil {
		t.Fatal(err)
	}
	f.ownFolderPolicies(t, "pub", "select", "insert")
	body := []byte("0123456789 small object body")
	if _, err := f.put(t, service(), "pub", "a.txt", body, false); err != nil {
		t.Fatal(err)
	}
	if got := f.blobs(t); len(got) != 1 || got[0] != f.e.blobKey("pub", "a.txt", mustVersion(t, f, "pub", "a.txt")) {
		t.Fatalf("blobs %v, want the one version's key", got)
	}
	if files := f.files(t); len(files) != 0 {
		t.Fatalf("a small object made files: %v", files)
	}
	if got, err := f.read(t, service(), "pub", "a.txt"); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read: %q %v", got, err)
	}
	if got, err := f.readBuffered(t, service(), "pub", "a.txt", 64); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("buffered read: %q %v", got, err)
	}
	for _, rng := range []struct{ header, want string }{{"bytes=2-5", "2345"}, {"bytes=-4", "body"}, {"bytes=24-", "body"}} {
		r, err := f.e.GetObject(ctx, service(), GetObject{Bucket: "pub", Key: "a.txt", Range: rng.header, Buffer: make([]byte, 0, 64)})
		if err != nil {
			t.Fatal(err)
		}
		got := r.Data
		if r.Body != nil {
			got, _ = io.ReadAll(r.Body)
			r.Body.Close()
		}
		if string(got) != rng.want || !r.Partial {
			t.Errorf("range %s: %q (partial %v), want %q", rng.header, got, r.Partial, rng.want)
		}
	}
	// The public-bucket rule (REST downloads), anonymously: the service's row brings the bytes.
	r, err := f.e.GetObject(ctx, anon(), GetObject{Bucket: "pub", Key: "a.txt", Public: PublicRead})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("public read: %q", got)
	}
	// A user under RLS reads its own object (the bytes come in a round trip of their own).
	uid := "00000000-0000-0000-0000-00000000000a"
	if _, err := f.put(t, user(uid), "pub", uid+"/mine.txt", []byte("mine"), false); err != nil {
		t.Fatal(err)
	}
	if got, err := f.read(t, user(uid), "pub", uid+"/mine.txt"); err != nil || string(got) != "mine" {
		t.Fatalf("user read: %q %v", got, err)
	}
	// Copy, then overwrite the source: each live version keeps one row, the superseded
	// one's goes.
	if _, err := f.e.CopyObject(ctx, service(), CopyObject{SrcBucket: "pub", SrcKey: "a.txt", DstBucket: "pub", DstKey: "b.txt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.put(t, service(), "pub", "a.txt", []byte("new"), true); err != nil {
		t.Fatal(err)
	}
	if got, err := f.read(t, service(), "pub", "b.txt"); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("copy reads %q %v", got, err)
	}
	if got, err := f.read(t, service(), "pub", "a.txt"); err != nil || string(got) != "new" {
		t.Fatalf("overwritten reads %q %v", got, err)
	}
	if got := f.blobs(t); len(got) != 3 {
		t.Fatalf("blobs %v, want 3 (a.txt, b.txt, mine.txt)", got)
	}
	// One byte over the bound: a file.
	large := bytes.Repeat([]byte("x"), inline.DefaultMax+1)
	if _, err := f.put(t, service(), "pub", "large.bin", large, false); err != nil {
		t.Fatal(err)
	}
	if files := f.files(t); len(files) != 1 {
		t.Fatalf("files %v, want large.bin's", files)
	}
	if got, err := f.read(t, service(), "pub", "large.bin"); err != nil || !bytes.Equal(got, large) {
		t.Fatalf("large read: %d bytes, %v", len(got), err)
	}
}

func mustVersion(t *testing.T, f *fixture, bucket, key string) string {
	t.Helper()
	o, err := f.e.HeadObject(context.Background(), service(), bucket, key, false)
	if err != nil {
		t.Fatal(err)
	}
	return o.Version
}

// A small body the engine refuses after reading it (a Content-MD5 that does not match, a
// body longer or shorter than declared) leaves no object, no row in small_blobs and no file:
// its bytes were only in memory.
func TestSmallObjectRefusedLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "b")
	ctx := context.Background()
	body := []byte("a small body")
	badMD5 := base64.StdEncoding.EncodeToString(make([]byte, md5.Size))
	for _, tc := range []struct {
		name string
		in   PutObject
		want Code
	}{
		{"bad Content-MD5", PutObject{Body: bytes.NewReader(body), Size: int64(len(body)), Integrity: Integrity{ContentMD5: badMD5}}, CodeBadDigest},
		{"longer than declared", PutObject{Body: bytes.NewReader(body), Size: int64(len(body) - 1)}, CodeIncompleteBody},
		{"shorter than declared", PutObject{Body: bytes.NewReader(body), Size: int64(len(body) + 1)}, CodeIncompleteBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Bucket, tc.in.Key = "b", "k"
			_, err := f.e.PutObject(ctx, service(), tc.in)
			wantCode(t, err, tc.want)
			if _, err := f.e.HeadObject(ctx, service(), "b", "k", false); CodeOf(err) != CodeNoSuchKey {
				t.Errorf("refused put left an object: %v", err)
			}
			if got := f.blobs(t); len(got) != 0 {
				t.Errorf("refused put left blobs %v", got)
			}
		})
	}
	// The same body, declared right, is kept in Postgres (bodies of this size take the inline
	// path, which TestWriteRoundTrips pins by its round trips).
	if _, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "b", Key: "k", Body: bytes.NewReader(body), Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if files, blobs := f.files(t), f.blobs(t); len(files) != 0 || len(blobs) != 1 {
		t.Fatalf("files %v, blobs %v: want one blob in Postgres", files, blobs)
	}
}

// Spilled objects keep their content type and cache control: the file store writes them
// beside the bytes (the reference server serves a file with them), though a row in
// Postgres keeps neither.
func TestSpillKeepsHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "b")
	ctx := context.Background()
	put := func(body, contentType, cacheControl string) Object {
		t.Helper()
		o, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "b", Key: "pic.png", Body: strings.NewReader(body),
			Size: int64(len(body)), ContentType: contentType, CacheControl: cacheControl, Upsert: true})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := put("png bytes", "image/png", "max-age=60")
	if files := f.files(t); len(files) != 0 {
		t.Fatalf("files before spill: %v", files)
	}
	moved, left, err := f.e.SpillSmallBlobs(ctx, nil)
	if err != nil || moved != 1 || left != 0 {
		t.Fatalf("SpillSmallBlobs = %d, %d, %v; want 1, 0", moved, left, err)
	}
	p := filepath.Join(f.root, f.e.blobKey("b", "pic.png", o.Version))
	xattr := func(name string) string {
		buf := make([]byte, 256)
		n, err := unix.Getxattr(p, name, buf)
		if errors.Is(err, unix.ENOTSUP) {
			t.Skip("no extended attributes on this file system")
		}
		if err != nil {
			t.Fatalf("xattr %s of %s: %v", name, p, err)
		}
		return string(buf[:n])
	}
	if ct, cc := xattr("user.supabase.content-type"), xattr("user.supabase.cache-control"); ct != "image/png" || cc != "max-age=60" {
		t.Errorf("spilled file's xattrs: %q, %q; want image/png, max-age=60", ct, cc)
	}
	if got, err := f.read(t, service(), "b", "pic.png"); err != nil || string(got) != "png bytes" {
		t.Fatalf("read after spill: %q %v", got, err)
	}
}

// The bytes of a small upload go in the commit's own transaction: when that transaction
// fails after they were sent (here the bucket is deleted under the commit, so the row's
// foreign key fails in the same pipeline), they are rolled back with the row, and nothing
// is left to sweep.
func TestSmallObjectCommitFailsLeavesNothing(t *testing.T) {
	f := newFixture(t)
	f.bucket(t, "gone")
	ctx := context.Background()
	f.e.hooks.beforeCommit = func() {
		err := pgx.BeginFunc(ctx, f.db.Pool(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `select set_config('storage.allow_delete_query', 'true', true)`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `delete from storage.buckets where id = 'gone'`)
			return err
		})
		if err != nil {
			t.Errorf("delete the bucket under the commit: %v", err)
		}
	}
	body := "a small body"
	_, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "gone", Key: "k", Body: strings.NewReader(body), Size: int64(len(body))})
	wantCode(t, err, CodeNoSuchBucket)
	var rows, intents int
	if err := f.db.Pool().QueryRow(ctx, `select (select count(*) from stowage.small_blobs), (select count(*) from stowage.blob_intents)`).Scan(&rows, &intents); err != nil {
		t.Fatal(err)
	}
	if rows != 0 || intents != 0 || len(f.files(t)) != 0 {
		t.Fatalf("after the failed commit: %d small_blobs rows, %d intents, files %v; want nothing", rows, intents, f.files(t))
	}
}

// A GET uses the bytes its row read brought only when they are the answered row's: same
// version, same size. Otherwise (the caller's row read after an overwrite the service's
// did not see) it reads the store.
func TestPrefetchedOnlyForItsRow(t *testing.T) {
	obj := Object{Version: "v2", Size: 3}
	for _, tc := range []struct {
		name string
		b    *db.SmallBlobRead
		want string
	}{
		{"not asked", nil, ""},
		{"none found", &db.SmallBlobRead{Version: "v2"}, ""},
		{"another version", &db.SmallBlobRead{Data: []byte("old"), Version: "v1"}, ""},
		{"another size", &db.SmallBlobRead{Data: []byte("four"), Version: "v2"}, ""},
		{"its row's", &db.SmallBlobRead{Data: []byte("new"), Version: "v2"}, "new"},
	} {
		if got := prefetched(tc.b, obj); string(got) != tc.want || (tc.want == "") != (got == nil) {
			t.Errorf("%s: prefetched = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := prefetched(&db.SmallBlobRead{Data: []byte{}, Version: "v0"}, Object{Version: "v0"}); got == nil {
		t.Error("an empty object's bytes: nil, want an empty slice")
	}
}
