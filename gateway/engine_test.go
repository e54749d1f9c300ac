package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/gateway/inline"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var testRoles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

type fixture struct {
	e     *Engine
	db    *db.DB
	root  string
	clock atomic.Int64 // unix nanoseconds
	// upstream, when set, lists the store's blobs instead of walking root (an engine over
	// upstream S3, see newS3Fixture).
	upstream func(t *testing.T) []string
}

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, t.TempDir(), nil) }

// newFixtureOn keeps the blobs under root and logs to log (nil: slog's default).
func newFixtureOn(t *testing.T, root string, log *slog.Logger) *fixture {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, pgtest.URL(t), db.Options{MaxConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	store, err := filebackend.New(root, filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: d, root: root}
	f.clock.Store(time.Now().UnixNano())
	// Small objects in Postgres, as the server's default (STOWAGE_INLINE_MAX_BYTES).
	f.e = New(d, store, Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute, Logger: log,
		Now: func() time.Time { return time.Unix(0, f.clock.Load()) }, InlineMax: inline.DefaultMax})
	return f
}

func (f *fixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

// filesOnly makes the engine write every blob to the file store (STOWAGE_INLINE_MAX_BYTES=0),
// for tests of what the disk does to small writes.
func (f *fixture) filesOnly() {
	f.e.store = inline.New(f.e.store.(*inline.Store).Files(), f.db, 0)
}

func service() Caller {
	return Caller{Principal: testRoles.ServicePrincipal("")}
}

func anon() Caller { return Caller{Principal: testRoles.Anonymous()} }

func user(sub string) Caller {
	return Caller{Principal: auth.Principal{Role: "authenticated", Sub: sub,
		Claims: fmt.Sprintf(`{"role":"authenticated","sub":%q}`, sub)}}
}

func (f *fixture) bucket(t *testing.T, id string) {
	t.Helper()
	if _, err := f.e.CreateBucket(context.Background(), service(), CreateBucket{ID: id, FileSizeLimit: NoLimit}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) put(t *testing.T, c Caller, bucket, key string, data []byte, upsert bool) (Object, error) {
	t.Helper()
	return f.e.PutObject(context.Background(), c, PutObject{Bucket: bucket, Key: key, Body: bytes.NewReader(data),
		Size: int64(len(data)), ContentType: "text/plain", Upsert: upsert})
}

func (f *fixture) read(t *testing.T, c Caller, bucket, key string) ([]byte, error) {
	t.Helper()
	r, err := f.e.GetObject(context.Background(), c, GetObject{Bucket: bucket, Key: key})
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	return io.ReadAll(r.Body)
}

// readBuffered is read with GetObject.Buffer of capacity n.
func (f *fixture) readBuffered(t *testing.T, c Caller, bucket, key string, n int) ([]byte, error) {
	t.Helper()
	r, err := f.e.GetObject(context.Background(), c, GetObject{Bucket: bucket, Key: key, Buffer: make([]byte, 0, n)})
	if err != nil {
		return nil, err
	}
	if r.Body == nil {
		return r.Data, nil
	}
	defer r.Body.Close()
	return io.ReadAll(r.Body)
}

// blobs lists the committed blobs: files under the store root (temp files excluded) and
// rows of stowage.small_blobs.
func (f *fixture) blobs(t *testing.T) []string {
	t.Helper()
	if f.upstream != nil {
		return f.upstream(t)
	}
	out := f.files(t)
	// Small blobs kept in Postgres (inline.Store) are blobs too, under the same keys.
	rows, err := f.db.Pool().Query(context.Background(), `select key from stowage.small_blobs`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, keys...)
	slices.Sort(out)
	return out
}

// files lists the blob files below the fixture's root, as keys.
func (f *fixture) files(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(f.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			rel, _ := filepath.Rel(f.root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ownFolderPolicies creates the policies Supabase's docs recommend on bucket: a user may
// touch only objects in the folder named after their user id, for the given commands
// (select, insert, update, delete).
func (f *fixture) ownFolderPolicies(t *testing.T, bucket string, commands ...string) {
	t.Helper()
	for _, cmd := range commands {
		cond := fmt.Sprintf("bucket_id = '%s' and (storage.foldername(name))[1] = auth.uid()::text", bucket)
		clause := "using (" + cond + ")"
		if cmd == "insert" {
			clause = "with check (" + cond + ")"
		}
		q := fmt.Sprintf("create policy own_%s_%s on storage.objects for %s to authenticated %s", bucket, cmd, cmd, clause)
		if _, err := f.db.Pool().Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

func wantCode(t *testing.T, err error, code Code) {
	t.Helper()
	if CodeOf(err) != code || err == nil {
		t.Fatalf("want %v, got %v", code, err)
	}
}

func etagOf(data []byte) string {
	s := md5.Sum(data)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	b, err := f.e.CreateBucket(ctx, user("u1"), CreateBucket{ID: "b1", FileSizeLimit: NoLimit})
	wantCode(t, err, CodeForbidden) // no policy on storage.buckets: only the service role creates
	b, err = f.e.CreateBucket(ctx, service(), CreateBucket{ID: "b1", Public: true, FileSizeLimit: 100, AllowedMimeTypes: []string{"image/*"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != "b1" || b.Name != "b1" || !b.Public || b.FileSizeLimit != 100 || len(b.AllowedMimeTypes) != 1 {
		t.Fatalf("created bucket = %+v", b)
	}
	_, err = f.e.CreateBucket(ctx, service(), CreateBucket{ID: "b1", FileSizeLimit: NoLimit})
	wantCode(t, err, CodeBucketAlreadyExists)
	for _, bad := range []string{"", "a/b", " lead", "x--table-s3", "café", strings.Repeat("a", 101)} {
		_, err = f.e.CreateBucket(ctx, service(), CreateBucket{ID: bad, FileSizeLimit: NoLimit})
		wantCode(t, err, CodeInvalidBucketName)
	}
	_, err = f.e.CreateBucket(ctx, service(), CreateBucket{ID: "huge", FileSizeLimit: 2 << 30})
	wantCode(t, err, CodeTooLarge)

	b, err = f.e.UpdateBucket(ctx, service(), "b1", UpdateBucket{Public: Some(false), FileSizeLimit: Some(NoLimit)})
	if err != nil || b.Public || b.FileSizeLimit != NoLimit || len(b.AllowedMimeTypes) != 1 {
		t.Fatalf("update: %+v %v", b, err)
	}
	_, err = f.e.UpdateBucket(ctx, service(), "nope", UpdateBucket{Public: Some(true)})
	wantCode(t, err, CodeNoSuchBucket)

	list, err := f.e.ListBuckets(ctx, anon(), ListBuckets{})
	if err != nil || len(list) != 0 {
		t.Fatalf("anon sees %d buckets (%v), want none without a policy", len(list), err)
	}
	list, err = f.e.ListBuckets(ctx, service(), ListBuckets{})
	if err != nil || len(list) != 1 {
		t.Fatalf("service sees %d buckets (%v)", len(list), err)
	}
	if list, err = f.e.ListBuckets(ctx, service(), ListBuckets{Offset: -5, Limit: 10}); err != nil || len(list) != 1 {
		t.Fatalf("negative offset: %d buckets (%v), want it read as 0", len(list), err)
	}

	f.e.UpdateBucket(ctx, service(), "b1", UpdateBucket{AllowedMimeTypes: Some([]string(nil))})
	if _, err := f.put(t, service(), "b1", "x.txt", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.e.DeleteBucket(ctx, service(), "b1", DeleteBucketOptions{}), CodeBucketNotEmpty)
	n, err := f.e.EmptyBucket(ctx, service(), "b1")
	if err != nil || n != 1 {
		t.Fatalf("empty: %d %v", n, err)
	}
	if err := f.e.DeleteBucket(ctx, service(), "b1", DeleteBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.e.DeleteBucket(ctx, service(), "b1", DeleteBucketOptions{}), CodeNoSuchBucket)
	if got := f.blobs(t); len(got) != 0 {
		t.Fatalf("blobs left after emptying: %v", got)
	}
}

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "files")
	data := make([]byte, 3<<20+17)
	rand.New(rand.NewSource(1)).Read(data)
	obj, err := f.e.PutObject(ctx, user("u"), PutObject{Bucket: "files", Key: "a/b.bin", Body: bytes.NewReader(data), Size: -1})
	wantCode(t, err, CodeForbidden) // no policy on storage.objects
	obj, err = f.e.PutObject(ctx, service(), PutObject{Bucket: "files", Key: "a/b.bin", Body: bytes.NewReader(data), Size: -1,
		ContentType: "application/x-test", CacheControl: "max-age=60", UserMetadata: []byte(`{"k":"v"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(data)) || obj.ETag != etagOf(data) || obj.ContentType != "application/x-test" || obj.CacheControl != "max-age=60" {
		t.Fatalf("object = %+v", obj)
	}
	got, err := f.read(t, service(), "files", "a/b.bin")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, err %v", len(got), err)
	}
	head, err := f.e.HeadObject(ctx, service(), "files", "a/b.bin", false)
	if err != nil || head.ID != obj.ID || string(head.UserMetadata) != `{"k": "v"}` {
		t.Fatalf("head = %+v (%s), %v", head, head.UserMetadata, err)
	}
	cases := []struct {
		name, rng  string
		start, end int64
	}{
		{"first bytes", "bytes=0-9", 0, 9},
		{"middle", "bytes=1000-2000", 1000, 2000},
		{"open ended", "bytes=3145000-", 3145000, int64(len(data)) - 1},
		{"suffix", "bytes=-5", int64(len(data)) - 5, int64(len(data)) - 1},
		{"end clamped", "bytes=5-999999999", 5, int64(len(data)) - 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := f.e.GetObject(ctx, service(), GetObject{Bucket: "files", Key: "a/b.bin", Range: tc.rng})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			part, _ := io.ReadAll(r.Body)
			if !r.Partial || r.Range.Start != tc.start || r.Range.End != tc.end || !bytes.Equal(part, data[tc.start:tc.end+1]) {
				t.Fatalf("range %+v, %d bytes", r.Range, len(part))
			}
		})
	}
	for _, bad := range []string{"bytes=99999999-", "bytes=-0", "bytes=0-1,3-4", "items=0-1", "bytes=5-2", "bytes=x-"} {
		_, err := f.e.GetObject(ctx, service(), GetObject{Bucket: "files", Key: "a/b.bin", Range: bad})
		wantCode(t, err, CodeInvalidRange)
	}
	_, err = f.read(t, service(), "files", "missing")
	wantCode(t, err, CodeNoSuchKey)
	_, err = f.read(t, service(), "nobucket", "x")
	wantCode(t, err, CodeNoSuchKey)
	if _, err := f.e.DeleteObject(ctx, service(), "files", "a/b.bin"); err != nil {
		t.Fatal(err)
	}
	_, err = f.e.DeleteObject(ctx, service(), "files", "a/b.bin")
	wantCode(t, err, CodeNoSuchKey)
	if got := f.blobs(t); len(got) != 0 {
		t.Fatalf("blobs left after delete: %v", got)
	}
}

func TestKeyValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "k")
	cases := []struct {
		name, key string
		ok        bool
	}{
		{"plain", "folder/file.txt", true},
		{"punctuation", "test!$&'() *+,:;=@ing", true},
		{"empty segments", "a//b/", true},
		{"leading slash", "/lead", true},
		{"empty", "", false},
		{"unicode", "café/naïve résumé.txt", true},
		{"cjk", "日本語/ファイル.txt", true},
		{"narrow no-break space", "Screenshot 2024-01-01 at 10.00.00\u202fAM.png", true},
		{"punctuation S3 accepts", `100%_[a]{b}^~"q"<x>|y\z#.txt`, true},
		{"percent-encoded slash literally", "a%2Fb", true},
		{"emoji", "😀/🎉.txt", true},
		{"dot-leading segments", ".hidden/..x/x..", true},
		{"dot dot", "../escape", false},
		{"inner dot dot", "a/../../b", false},
		{"dot segment", "a/./b", false},
		{"trailing dot dot", "a/..", false},
		{"nul", "a\x00b", false},
		{"tab", "a\tb", false},
		{"newline", "a\nb", false},
		{"carriage return", "a\rb", false},
		{"escape", "a\x1bb", false},
		{"del", "a\x7fb", false},
		{"c1 control", "a\u0085b", false},
		{"noncharacter", "a\uffffb", false},
		{"invalid utf-8", "caf\xe9.txt", false},
		{"truncated utf-8", "a\xe6\x97", false},
		{"surrogate bytes", "a\xed\xa0\x80", false},
		{"file store temp prefix", "a/.stowage-tmp~x/b", false},
		{"max segment of multibyte", strings.Repeat("é", 127), true},
		{"overlong multibyte segment", strings.Repeat("é", 128), false},
		{"max key", strings.Repeat(strings.Repeat("x", 254)+"/", 4) + strings.Repeat("y", 4), true},
		{"overlong segment", strings.Repeat("x", 256), false},
		{"overlong key", strings.Repeat("abcdefgh/", 120), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.put(t, service(), "k", tc.key, []byte("v"), true)
			if tc.ok && err != nil {
				t.Fatalf("put %q: %v", tc.key, err)
			}
			if tc.ok {
				got, err := f.read(t, service(), "k", tc.key)
				if err != nil || string(got) != "v" {
					t.Fatalf("read %q: %q, %v", tc.key, got, err)
				}
			}
			if !tc.ok {
				wantCode(t, err, CodeInvalidKey)
			}
		})
	}
}

func TestLimitsAndMime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "small", FileSizeLimit: 10, AllowedMimeTypes: []string{"text/plain", "image/*"}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mime string
		body string
		size int64
		want Code // -1 = success
	}{
		{"fits", "text/plain", "0123456789", 10, -1},
		{"wildcard", "image/png", "png", 3, -1},
		{"declared too large", "text/plain", "01234567890", 11, CodeTooLarge},
		{"streamed too large", "text/plain", "01234567890", -1, CodeTooLarge},
		{"charset not matched", "text/plain;charset=UTF-8", "x", 1, CodeInvalidMimeType},
		{"other type", "application/json", "{}", 2, CodeInvalidMimeType},
		{"short body", "text/plain", "abc", 5, CodeIncompleteBody},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("f%d", i)
			_, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "small", Key: key, Body: strings.NewReader(tc.body), Size: tc.size, ContentType: tc.mime})
			if tc.want == -1 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.want)
			_, err = f.e.HeadObject(ctx, service(), "small", key, false)
			wantCode(t, err, CodeNoSuchKey)
		})
	}
	if got := len(f.blobs(t)); got != 2 {
		t.Fatalf("%d blobs on disk, want only the 2 successful uploads", got)
	}
	// An empty-folder placeholder holds 0 bytes and skips the mime check.
	if _, err := f.put(t, service(), "small", "dir/.emptyFolderPlaceholder", nil, false); err != nil {
		t.Fatal(err)
	}
	_, err := f.put(t, service(), "small", "dir2/.emptyFolderPlaceholder", []byte("x"), false)
	wantCode(t, err, CodeTooLarge)
}

// TestRLS uses the policy Supabase's docs recommend: users may read and write only in the
// folder named after their user id.
func TestRLS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "private")
	f.ownFolderPolicies(t, "private", "select", "insert", "delete")
	alice, bob := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	obj, err := f.put(t, user(alice), "private", alice+"/note.txt", []byte("alice's"), false)
	if err != nil {
		t.Fatal(err)
	}
	if obj.Owner != alice || obj.OwnerID != alice {
		t.Fatalf("owner = %q/%q", obj.Owner, obj.OwnerID)
	}
	_, err = f.put(t, user(alice), "private", bob+"/note.txt", []byte("x"), false)
	wantCode(t, err, CodeForbidden)
	_, err = f.put(t, anon(), "private", "anon.txt", []byte("x"), false)
	wantCode(t, err, CodeForbidden)
	if got, err := f.read(t, user(alice), "private", alice+"/note.txt"); err != nil || string(got) != "alice's" {
		t.Fatalf("alice reads %q, %v", got, err)
	}
	_, err = f.read(t, user(bob), "private", alice+"/note.txt")
	wantCode(t, err, CodeNoSuchKey) // hidden, not forbidden: RLS leaks nothing
	_, err = f.read(t, anon(), "private", alice+"/note.txt")
	wantCode(t, err, CodeNoSuchKey)
	res, err := f.e.ListObjects(ctx, user(bob), ListObjects{Bucket: "private"})
	if err != nil || len(res.Objects) != 0 {
		t.Fatalf("bob lists %d objects, %v", len(res.Objects), err)
	}
	// As the reference: the object exists (checked without RLS) but the RLS-scoped delete
	// removed nothing, so it is a denial; a missing key stays NoSuchKey.
	_, err = f.e.DeleteObject(ctx, user(bob), "private", alice+"/note.txt")
	wantCode(t, err, CodeForbidden)
	_, err = f.e.DeleteObject(ctx, user(bob), "private", bob+"/none.txt")
	wantCode(t, err, CodeNoSuchKey)
	// Without an UPDATE policy alice cannot overwrite, even her own file.
	_, err = f.put(t, user(alice), "private", alice+"/note.txt", []byte("v2"), true)
	wantCode(t, err, CodeForbidden)
	if _, err := f.e.DeleteObject(ctx, user(alice), "private", alice+"/note.txt"); err != nil {
		t.Fatal(err)
	}
}

func TestAtomicOverwrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "o")
	v1 := bytes.Repeat([]byte("1"), 1<<20)
	v2 := bytes.Repeat([]byte("2"), 1<<20+5)
	first, err := f.put(t, service(), "o", "k", v1, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.put(t, service(), "o", "k", v2, false)
	wantCode(t, err, CodeKeyAlreadyExists)

	// Readers during overwrites see one whole version or the other, never a mix.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Half the readers read into a buffer (GetObject.Buffer): the same retry
				// when the version read is replaced before its bytes are opened.
				got, err := f.read(t, service(), "o", "k")
				if i%2 == 1 {
					got, err = f.readBuffered(t, service(), "o", "k", 2<<20)
				}
				if err != nil {
					t.Errorf("read during overwrite: %v", err)
					return
				}
				if !bytes.Equal(got, v1) && !bytes.Equal(got, v2) {
					t.Errorf("torn read: %d bytes", len(got))
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := 0; i < 10; i++ {
		data := v1
		if i%2 == 0 {
			data = v2
		}
		obj, err := f.put(t, service(), "o", "k", data, true)
		if err != nil {
			t.Fatal(err)
		}
		if obj.ID != first.ID {
			t.Fatalf("overwrite changed the object id: %s -> %s", first.ID, obj.ID)
		}
	}
	close(stop)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("no reads happened during the overwrites")
	}
	if got := f.blobs(t); len(got) != 1 {
		t.Fatalf("want exactly the current blob left, got %v", got)
	}
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "c")
	const writers = 8
	payload := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 256<<10+i) }

	t.Run("upsert: last commit wins, whole", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if _, err := f.put(t, service(), "c", "same", payload(i), true); err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
			}(i)
		}
		wg.Wait()
		got, err := f.read(t, service(), "c", "same")
		if err != nil {
			t.Fatal(err)
		}
		head, _ := f.e.HeadObject(ctx, service(), "c", "same", false)
		winner := int(got[0] - 'a')
		if winner < 0 || winner >= writers || !bytes.Equal(got, payload(winner)) || head.ETag != etagOf(got) || head.Size != int64(len(got)) {
			t.Fatalf("stored object is not one writer's whole payload (len %d, etag %s)", len(got), head.ETag)
		}
	})
	t.Run("create: first commit wins, others conflict", func(t *testing.T) {
		var wg sync.WaitGroup
		var ok, conflict atomic.Int32
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := f.put(t, service(), "c", "new", payload(i), false)
				switch CodeOf(err) {
				case CodeKeyAlreadyExists:
					conflict.Add(1)
				default:
					if err != nil {
						t.Errorf("writer %d: %v", i, err)
						return
					}
					ok.Add(1)
				}
			}(i)
		}
		wg.Wait()
		if ok.Load() != 1 || conflict.Load() != writers-1 {
			t.Fatalf("%d succeeded, %d conflicted; want 1 and %d", ok.Load(), conflict.Load(), writers-1)
		}
	})
	if got := f.blobs(t); len(got) != 2 {
		t.Fatalf("want 2 blobs (one per key), got %d: %v", len(got), got)
	}
}

// crashDuring runs fn in a goroutine that dies (runtime.Goexit, so no cleanup code of the
// operation runs) at the hook, as a killed process would.
func crashDuring(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// With small objects kept in Postgres (inline.Store) the bytes commit with the row: a crash
// before the commit leaves nothing at all. In files, it leaves two orphans for the sweep.
func TestCrashBetweenBlobWriteAndCommit(t *testing.T) {
	t.Parallel()
	for _, files := range []bool{true, false} {
		t.Run(map[bool]string{true: "files", false: "postgres"}[files], func(t *testing.T) {
			t.Parallel()
			testCrashBetweenBlobWriteAndCommit(t, files)
		})
	}
}

func testCrashBetweenBlobWriteAndCommit(t *testing.T, files bool) {
	f := newFixture(t)
	orphans := 0
	if files {
		f.filesOnly()
		orphans = 2
	}
	ctx := context.Background()
	f.bucket(t, "crash")
	old := []byte("old version")
	if _, err := f.put(t, service(), "crash", "k", old, false); err != nil {
		t.Fatal(err)
	}
	f.e.hooks.afterBlobWrite = func() error { runtime.Goexit(); return nil }
	crashDuring(func() { f.put(t, service(), "crash", "k", []byte("new version, never committed"), true) })
	crashDuring(func() { f.put(t, service(), "crash", "fresh", []byte("never committed"), false) })
	f.e.hooks.afterBlobWrite = nil

	if got, err := f.read(t, service(), "crash", "k"); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("after crash read %q, %v; want the old version", got, err)
	}
	_, err := f.e.HeadObject(ctx, service(), "crash", "fresh", false)
	wantCode(t, err, CodeNoSuchKey)
	if got := len(f.blobs(t)); got != 1+orphans {
		t.Fatalf("%d blobs before the sweep, want %d (old + %d orphans)", got, 1+orphans, orphans)
	}
	st, err := f.e.Sweep(ctx)
	if err != nil || st.Removed != 0 {
		t.Fatalf("a sweep before the intents expire must not touch in-flight writes: %+v %v", st, err)
	}
	f.advance(2 * time.Minute)
	st, err = f.e.Sweep(ctx)
	if err != nil || st.Removed != orphans {
		t.Fatalf("sweep = %+v, %v; want %d orphans removed", st, err, orphans)
	}
	if got, err := f.read(t, service(), "crash", "k"); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("after sweep read %q, %v", got, err)
	}
	if got := len(f.blobs(t)); got != 1 {
		t.Fatalf("%d blobs after the sweep, want 1", got)
	}
}

func TestCrashAfterCommitBeforeCleanup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "crash")
	if _, err := f.put(t, service(), "crash", "k", []byte("v1"), false); err != nil {
		t.Fatal(err)
	}
	f.e.hooks.beforeCleanup = func() error { runtime.Goexit(); return nil }
	crashDuring(func() { f.put(t, service(), "crash", "k", []byte("v2"), true) })
	crashDuring(func() { f.e.DeleteObject(ctx, service(), "crash", "gone") })
	f.e.hooks.beforeCleanup = nil
	if got, err := f.read(t, service(), "crash", "k"); err != nil || string(got) != "v2" {
		t.Fatalf("read %q, %v; want the committed v2", got, err)
	}
	if got := len(f.blobs(t)); got != 2 {
		t.Fatalf("%d blobs, want 2 (v2 + superseded v1)", got)
	}
	st, err := f.e.Sweep(ctx)
	if err != nil || st.Removed != 1 {
		t.Fatalf("sweep = %+v, %v; want the superseded blob removed", st, err)
	}
	if got, err := f.read(t, service(), "crash", "k"); err != nil || string(got) != "v2" {
		t.Fatalf("after sweep read %q, %v", got, err)
	}
}

func TestStoreFailureKeepsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "fail")
	body := io.MultiReader(bytes.NewReader(make([]byte, 100<<10)), errReader{})
	_, err := f.e.PutObject(context.Background(), service(), PutObject{Bucket: "fail", Key: "k", Body: body, Size: -1})
	wantCode(t, err, CodeIncompleteBody)
	if !errors.Is(err, errClientGone) {
		t.Fatalf("the body's own error should stay reachable: %v", err)
	}
	if got := f.blobs(t); len(got) != 0 {
		t.Fatalf("blobs left: %v", got)
	}
}

var errClientGone = errors.New("client went away")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errClientGone }

func TestListObjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "l")
	keys := []string{"a.txt", "b/1", "b/2", "b/c/3", "c", "d/x", "e.txt", "f/", "f/g"}
	for _, k := range keys {
		if _, err := f.put(t, service(), "l", k, []byte(k), false); err != nil {
			t.Fatal(err)
		}
	}
	names := func(r ListResult) string {
		var s []string
		for _, o := range r.Objects {
			s = append(s, o.Key)
		}
		return strings.Join(s, ",") + "|" + strings.Join(r.CommonPrefixes, ",")
	}
	cases := []struct {
		name string
		in   ListObjects
		want string
		more bool
	}{
		{"all", ListObjects{}, strings.Join(keys, ",") + "|", false},
		{"delimiter", ListObjects{Delimiter: "/"}, "a.txt,c,e.txt|b/,d/,f/", false},
		{"prefix", ListObjects{Prefix: "b/"}, "b/1,b/2,b/c/3|", false},
		{"prefix delimiter", ListObjects{Prefix: "b/", Delimiter: "/"}, "b/1,b/2|b/c/", false},
		{"paged", ListObjects{Delimiter: "/", MaxKeys: 2}, "a.txt|b/", true},
		{"after folder", ListObjects{Delimiter: "/", StartAfter: "b/", MaxKeys: 2}, "c|d/", true},
		{"after key inside folder", ListObjects{Delimiter: "/", StartAfter: "b/1"}, "c,e.txt|d/,f/", false},
		{"start after", ListObjects{StartAfter: "d/x"}, "e.txt,f/,f/g|", false},
		{"no match", ListObjects{Prefix: "zzz"}, "|", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Bucket = "l"
			res, err := f.e.ListObjects(ctx, service(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res); got != tc.want || res.IsTruncated != tc.more {
				t.Fatalf("got %s (truncated %v), want %s (%v)", got, res.IsTruncated, tc.want, tc.more)
			}
		})
	}
	_, err := f.e.ListObjects(ctx, service(), ListObjects{Bucket: "missing"})
	wantCode(t, err, CodeNoSuchBucket)
}

func TestCopyMove(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "src")
	f.bucket(t, "dst")
	orig, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "src", Key: "a", Body: strings.NewReader("payload"), Size: 7,
		ContentType: "text/x", UserMetadata: []byte(`{"m":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := f.e.CopyObject(ctx, service(), CopyObject{SrcBucket: "src", SrcKey: "a", DstBucket: "dst", DstKey: "copy"})
	if err != nil {
		t.Fatal(err)
	}
	if cp.ID == orig.ID || cp.ContentType != "text/x" || cp.ETag != orig.ETag {
		t.Fatalf("copy = %+v", cp)
	}
	_, err = f.e.CopyObject(ctx, service(), CopyObject{SrcBucket: "src", SrcKey: "a", DstBucket: "dst", DstKey: "copy"})
	wantCode(t, err, CodeKeyAlreadyExists)
	_, err = f.e.CopyObject(ctx, service(), CopyObject{SrcBucket: "src", SrcKey: "nope", DstBucket: "dst", DstKey: "x"})
	wantCode(t, err, CodeNoSuchKey)

	mv, err := f.e.MoveObject(ctx, service(), CopyObject{SrcBucket: "src", SrcKey: "a", DstBucket: "dst", DstKey: "moved/a"})
	if err != nil {
		t.Fatal(err)
	}
	if mv.ID != orig.ID || mv.Bucket != "dst" || mv.Key != "moved/a" {
		t.Fatalf("move = %+v", mv)
	}
	if got, err := f.read(t, service(), "dst", "moved/a"); err != nil || string(got) != "payload" {
		t.Fatalf("read moved: %q %v", got, err)
	}
	_, err = f.e.HeadObject(ctx, service(), "src", "a", false)
	wantCode(t, err, CodeNoSuchKey)
	_, err = f.e.MoveObject(ctx, service(), CopyObject{SrcBucket: "dst", SrcKey: "moved/a", DstBucket: "dst", DstKey: "copy"})
	wantCode(t, err, CodeKeyAlreadyExists)
	if _, err := f.e.MoveObject(ctx, service(), CopyObject{SrcBucket: "dst", SrcKey: "moved/a", DstBucket: "dst", DstKey: "copy", Upsert: true}); err != nil {
		t.Fatal(err)
	}
	if got := len(f.blobs(t)); got != 1 {
		t.Fatalf("%d blobs, want 1", got)
	}
}

// A write refused before its body (RLS, an existing key, a mime type the bucket refuses, a
// malformed digest header) leaves no intent, no blob and no row: the write intent is
// recorded in the transaction whose probe judges the write, and dies with it.
func TestRefusedWriteLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "r")
	f.ownFolderPolicies(t, "r", "select", "insert")
	if _, err := f.e.UpdateBucket(ctx, service(), "r", UpdateBucket{AllowedMimeTypes: Some([]string{"text/plain"})}); err != nil {
		t.Fatal(err)
	}
	alice := "11111111-1111-4111-8111-111111111111"
	if _, err := f.put(t, service(), "r", "taken.txt", []byte("first"), false); err != nil {
		t.Fatal(err)
	}
	intents := func() int {
		var n int
		if err := f.db.Pool().QueryRow(ctx, `select count(*) from stowage.blob_intents`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := intents(); n != 0 {
		t.Fatalf("%d intents after a successful put", n)
	}
	blobs := len(f.blobs(t))
	cases := []struct {
		name string
		c    Caller
		in   PutObject
		code Code
	}{
		{"rls", user(alice), PutObject{Key: "someone-else/x.txt"}, CodeForbidden},
		{"anon", anon(), PutObject{Key: alice + "/x.txt"}, CodeForbidden},
		{"exists", service(), PutObject{Key: "taken.txt"}, CodeKeyAlreadyExists},
		{"mime", service(), PutObject{Key: "x.png", ContentType: "image/png"}, CodeInvalidMimeType},
		{"digest", service(), PutObject{Key: "y.txt", Integrity: Integrity{ContentMD5: "not base64"}}, CodeBadDigest},
	}
	for _, tc := range cases {
		tc.in.Bucket, tc.in.Body, tc.in.Size = "r", strings.NewReader("body"), 4
		if tc.in.ContentType == "" {
			tc.in.ContentType = "text/plain"
		}
		_, err := f.e.PutObject(ctx, tc.c, tc.in)
		if CodeOf(err) != tc.code {
			t.Fatalf("%s: want %v, got %v", tc.name, tc.code, err)
		}
		if n := intents(); n != 0 {
			t.Fatalf("%s: %d intents left", tc.name, n)
		}
		if n := len(f.blobs(t)); n != blobs {
			t.Fatalf("%s: %d blobs, want %d", tc.name, n, blobs)
		}
		if _, err := f.read(t, service(), "r", tc.in.Key); tc.name != "exists" && CodeOf(err) != CodeNoSuchKey {
			t.Fatalf("%s: the refused key reads as %v", tc.name, err)
		}
	}
	// The caller's scope ended with its transaction: the next write on the pooled
	// connections runs as whoever makes it.
	if _, err := f.put(t, user(alice), "r", alice+"/ok.txt", []byte("mine"), false); err != nil {
		t.Fatal(err)
	}
}
