package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/gateway/backend/s3backend"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

// fsckEnv is an engine over one store, with its clock (realTime: the wall clock).
type fsckEnv struct {
	e     *Engine
	store backend.Store
	clock *atomic.Int64
}

func (f *fsckEnv) advance(d time.Duration) { f.clock.Add(int64(d)) }

// fsckBackends runs fn on the file store and on MinIO. With realTime the engine reads the
// wall clock plus a day (so every blob is old at once and only rows and intents protect
// it); otherwise a clock the test advances.
func fsckBackends(t *testing.T, realTime bool, fn func(t *testing.T, f *fsckEnv)) {
	t.Run("file", func(t *testing.T) {
		store, err := filebackend.New(t.TempDir(), filebackend.Options{NoFsync: true})
		if err != nil {
			t.Fatal(err)
		}
		fn(t, newFsckEnv(t, store, realTime))
	})
	t.Run("s3", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts MinIO")
		}
		m := miniotest.Start(t)
		store, err := s3backend.New(context.Background(), s3backend.Options{Bucket: m.Bucket, Endpoint: m.Endpoint,
			Region: m.Region, ForcePathStyle: true, AccessKeyID: m.AccessKey, SecretAccessKey: m.Secret})
		if err != nil {
			t.Fatal(err)
		}
		fn(t, newFsckEnv(t, store, realTime))
	})
}

func newFsckEnv(t testing.TB, store backend.Store, realTime bool) *fsckEnv {
	t.Helper()
	d, err := db.Open(context.Background(), pgtest.URL(t), db.Options{MaxConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	f := &fsckEnv{store: store, clock: &atomic.Int64{}}
	f.clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, f.clock.Load()) }
	if realTime {
		now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	}
	f.e = New(d, store, Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute, Now: now})
	return f
}

func (f *fsckEnv) run(t *testing.T, opts FsckOptions) ([]FsckFinding, FsckReport) {
	t.Helper()
	var got []FsckFinding
	rep, err := f.e.Fsck(context.Background(), opts, func(x FsckFinding) error { got = append(got, x); return nil })
	if err != nil {
		t.Fatalf("Fsck(%+v): %v", opts, err)
	}
	return got, rep
}

func (f *fsckEnv) putBlob(t *testing.T, key string, data []byte) {
	t.Helper()
	if _, err := f.store.Put(context.Background(), key, bytes.NewReader(data), backend.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
}

func (f *fsckEnv) exists(t *testing.T, key string) bool {
	t.Helper()
	_, err := f.store.Stat(context.Background(), key)
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func (f *fsckEnv) addIntent(t *testing.T, key, kind string, expires time.Time) {
	t.Helper()
	err := f.e.db.InTx(context.Background(), f.e.service(service()), func(tx db.Tx) error {
		return tx.AddIntent(context.Background(), key, kind, expires)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fsckEnv) mustPut(t *testing.T, bucket, key string, data []byte) Object {
	t.Helper()
	o, err := f.e.PutObject(context.Background(), service(), PutObject{Bucket: bucket, Key: key, Body: bytes.NewReader(data),
		Size: int64(len(data)), ContentType: "text/plain", Upsert: true})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return o
}

func (f *fsckEnv) mustRead(t *testing.T, bucket, key string) []byte {
	t.Helper()
	r, err := f.e.GetObject(context.Background(), service(), GetObject{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer r.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r.Body); err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b.Bytes()
}

// finding is the comparable part of a finding.
type finding struct {
	kind FsckKind
	key  string
	ref  string
}

func summarize(fs []FsckFinding) []finding {
	out := make([]finding, len(fs))
	for i, x := range fs {
		out[i] = finding{x.Kind, x.Key, x.Ref}
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// TestFsckFindsAndFixesPlanted plants each kind of inconsistency among live objects whose
// names sort differently as names and as keys ("a" / "a.txt" / "a/b"), then checks that
// Fsck reports exactly the planted ones, that Fix removes the safe ones (orphan bytes,
// stale intents through the sweep, expired uploads) and leaves live objects, a write in
// flight and rows without bytes alone.
func TestFsckFindsAndFixesPlanted(t *testing.T) {
	fsckBackends(t, false, func(t *testing.T, f *fsckEnv) {
		ctx := context.Background()
		tenant := f.e.opts.TenantID
		for _, b := range []string{"b", "b-1", "c"} {
			if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: b, FileSizeLimit: NoLimit}); err != nil {
				t.Fatal(err)
			}
		}
		live := map[string][]byte{}
		names := []string{"a", "a.txt", "a/b", "a b", "a/b/c", "z", "dir/x", "dir-y", "é"}
		if _, ok := f.store.(backend.SegmentFolder); ok {
			// Names whose keys the file store folds (MinIO refuses them).
			names = append(names, "a//b", "odd//x", "trail/", "/lead")
		}
		for i, name := range names {
			for _, b := range []string{"b", "b-1"} {
				data := []byte(fmt.Sprintf("%s/%s#%d", b, name, i))
				f.mustPut(t, b, name, data)
				live[b+"/"+name] = data
			}
		}
		// Rows without bytes.
		lost := f.mustPut(t, "b", "lost", []byte("gone"))
		lostKey := f.e.blobKey("b", "lost", lost.Version)
		if err := f.store.Delete(ctx, lostKey); err != nil {
			t.Fatal(err)
		}
		// Bytes without rows: in a bucket, beside a live name, under a deleted bucket.
		ghost := tenant + "/b/ghost/" + uuid.NewString()
		ghost2 := tenant + "/b/a/" + uuid.NewString() // a second version beside live "a"
		gone := tenant + "/deleted-bucket/x/" + uuid.NewString()
		for _, k := range []string{ghost, ghost2, gone} {
			f.putBlob(t, k, []byte("orphan"))
		}
		// A crashed write (bytes + write intent long expired), a delete intent left behind
		// without bytes, and a write in flight (bytes + intent not expired).
		crashed := tenant + "/c/crashed/" + uuid.NewString()
		f.putBlob(t, crashed, []byte("crashed"))
		f.addIntent(t, crashed, db.IntentWrite, f.e.now().Add(-time.Hour))
		delLeft := tenant + "/c/deleted/" + uuid.NewString()
		f.addIntent(t, delLeft, db.IntentDelete, f.e.now())
		inFlight := tenant + "/c/flying/" + uuid.NewString()
		f.putBlob(t, inFlight, []byte("flying"))
		// An upload that expires, and one that does not.
		up, err := f.e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "c", Key: "big"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.UploadPart(ctx, service(), UploadPart{Bucket: "c", Key: "big", UploadID: up.ID, PartNumber: 1,
			Body: strings.NewReader("part one"), Size: 8}); err != nil {
			t.Fatal(err)
		}
		f.advance(48 * time.Hour) // everything above is now old; the upload expired
		f.addIntent(t, inFlight, db.IntentWrite, f.e.now().Add(time.Hour))
		fresh, err := f.e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "c", Key: "fresh"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.UploadPart(ctx, service(), UploadPart{Bucket: "c", Key: "fresh", UploadID: fresh.ID, PartNumber: 1,
			Body: strings.NewReader("fresh part"), Size: 10}); err != nil {
			t.Fatal(err)
		}

		opts := FsckOptions{Grace: time.Hour}
		got, rep := f.run(t, opts)
		want := summarize([]FsckFinding{
			{Kind: FsckMissingBytes, Key: lostKey, Ref: "object"},
			{Kind: FsckOrphanBytes, Key: ghost},
			{Kind: FsckOrphanBytes, Key: ghost2},
			{Kind: FsckOrphanBytes, Key: gone},
			{Kind: FsckStaleIntent, Key: crashed, Ref: db.RefWriteIntent},
			{Kind: FsckStaleIntent, Key: delLeft, Ref: db.RefDeleteIntent},
			{Kind: FsckExpiredUpload, Key: "big", Ref: "multipart"},
		})
		if s := summarize(got); !slices.Equal(s, want) {
			t.Fatalf("findings:\n%v\nwant\n%v", s, want)
		}
		if !rep.Done || rep.Removed != 0 {
			t.Fatalf("report %+v: want done, nothing removed", rep)
		}
		// A longer grace hides the orphans (they are too young to judge) and the intents.
		got, rep = f.run(t, FsckOptions{Grace: 100 * time.Hour})
		for _, x := range got {
			if x.Kind != FsckMissingBytes && x.Kind != FsckExpiredUpload {
				t.Errorf("with a 100h grace: %+v reported", x)
			}
		}
		if rep.Young != 3 {
			t.Errorf("with a 100h grace: %d young blobs, want 3", rep.Young)
		}
		// One bucket only.
		got, _ = f.run(t, FsckOptions{Grace: time.Hour, Bucket: "b"})
		wantB := summarize([]FsckFinding{
			{Kind: FsckMissingBytes, Key: lostKey, Ref: "object"},
			{Kind: FsckOrphanBytes, Key: ghost},
			{Kind: FsckOrphanBytes, Key: ghost2},
		})
		if s := summarize(got); !slices.Equal(s, wantB) {
			t.Fatalf("bucket b findings:\n%v\nwant\n%v", s, wantB)
		}

		opts.Fix = true
		got, rep = f.run(t, opts)
		if s := summarize(got); !slices.Equal(s, want) {
			t.Fatalf("findings with Fix:\n%v\nwant\n%v", s, want)
		}
		if rep.Removed != 3 {
			t.Errorf("removed %d orphans, want 3", rep.Removed)
		}
		for _, k := range []string{ghost, ghost2, gone, crashed} {
			if f.exists(t, k) {
				t.Errorf("%s still in the store after Fix", k)
			}
		}
		if !f.exists(t, inFlight) {
			t.Errorf("the write in flight lost its bytes")
		}
		for k, data := range live {
			b, name, _ := strings.Cut(k, "/")
			if got := f.mustRead(t, b, name); !bytes.Equal(got, data) {
				t.Errorf("%s reads %q after Fix, want %q", k, got, data)
			}
		}
		if _, err := f.e.ListParts(ctx, service(), ListParts{Bucket: "c", Key: "fresh", UploadID: fresh.ID}); err != nil {
			t.Errorf("the fresh upload: %v", err)
		}
		// What is left: the row without bytes (never repaired).
		got, _ = f.run(t, opts)
		wantLeft := summarize([]FsckFinding{{Kind: FsckMissingBytes, Key: lostKey, Ref: "object"}})
		if s := summarize(got); !slices.Equal(s, wantLeft) {
			t.Fatalf("after Fix:\n%v\nwant\n%v", s, wantLeft)
		}
	})
}

// TestFsckResume stops a check at each checkpoint it reports and resumes from there: the
// resumed runs together find what one run finds.
func TestFsckResume(t *testing.T) {
	fsckBackends(t, false, func(t *testing.T, f *fsckEnv) {
		ctx := context.Background()
		tenant := f.e.opts.TenantID
		for _, b := range []string{"r", "r-2"} {
			if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: b, FileSizeLimit: NoLimit}); err != nil {
				t.Fatal(err)
			}
		}
		var orphans []string
		for i := range 30 {
			b := []string{"r", "r-2"}[i%2]
			name := []string{"n", "n.x", "n/m", "n-", "p"}[i%5] + fmt.Sprint(i/5)
			f.mustPut(t, b, name, []byte(name))
			if i%3 == 0 {
				k := tenant + "/" + b + "/" + name + "/" + uuid.NewString()
				f.putBlob(t, k, []byte("x"))
				orphans = append(orphans, k)
			}
		}
		f.advance(48 * time.Hour)
		slices.Sort(orphans)
		var checkpoints []string
		all, _ := f.run(t, FsckOptions{Grace: time.Hour, ProgressEvery: 4, Progress: func(r FsckReport) {
			checkpoints = append(checkpoints, r.Checkpoint)
		}})
		var keys []string
		for _, x := range all {
			keys = append(keys, x.Key)
		}
		if !slices.Equal(keys, orphans) {
			t.Fatalf("orphans %q\nwant %q", keys, orphans)
		}
		if len(checkpoints) < 5 {
			t.Fatalf("only %d checkpoints", len(checkpoints))
		}
		for _, cp := range checkpoints {
			got, _ := f.run(t, FsckOptions{Grace: time.Hour, StartAfter: cp})
			var want []string
			for _, k := range orphans {
				if k > cp {
					want = append(want, k)
				}
			}
			keys = keys[:0]
			for _, x := range got {
				keys = append(keys, x.Key)
			}
			if !slices.Equal(keys, want) {
				t.Fatalf("after %q: %q\nwant %q", cp, keys, want)
			}
		}
	})
}

// TestFsckFixDuringUploads runs Fsck with Fix and the shortest grace over and over while
// writers upload and overwrite objects (single puts and, on the file store, multipart
// uploads whose parts are blobs of their own): every write must succeed and every
// acknowledged object read back intact, and the orphans planted beforehand are removed.
func TestFsckFixDuringUploads(t *testing.T) {
	fsckBackends(t, true, func(t *testing.T, f *fsckEnv) {
		ctx := context.Background()
		if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "w", FileSizeLimit: NoLimit}); err != nil {
			t.Fatal(err)
		}
		var orphans []string
		for i := range 5 {
			k := f.e.opts.TenantID + "/w/planted" + fmt.Sprint(i) + "/" + uuid.NewString()
			f.putBlob(t, k, []byte("orphan"))
			orphans = append(orphans, k)
		}
		const writers, rounds, keysPer = 4, 25, 3
		var mu sync.Mutex
		acked := map[string][]byte{}
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		stop := make(chan struct{})
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					key := fmt.Sprintf("w%d/k%d", w, r%keysPer)
					data := bytes.Repeat([]byte(fmt.Sprintf("%d-%d;", w, r)), 100+r)
					var err error
					if w == 0 && r%5 == 0 {
						data = bytes.Repeat(data, 5<<20/len(data)+1)
						err = multipartPut(ctx, f.e, "w", key, data)
					} else {
						_, err = f.e.PutObject(ctx, service(), PutObject{Bucket: "w", Key: key, Body: bytes.NewReader(data),
							Size: int64(len(data)), ContentType: "text/plain", Upsert: true})
					}
					if err != nil {
						errs <- fmt.Errorf("writer %d round %d: %w", w, r, err)
						return
					}
					mu.Lock()
					acked[key] = data
					mu.Unlock()
				}
			}()
		}
		go func() { wg.Wait(); close(stop) }()
		runs := 0
		for done := false; !done; {
			select {
			case <-stop:
				done = true
			default:
			}
			// A grace of 1ns: only the intents and the re-check protect the writers.
			if _, err := f.e.Fsck(ctx, FsckOptions{Fix: true, Grace: time.Nanosecond}, func(FsckFinding) error { return nil }); err != nil {
				t.Fatalf("Fsck during uploads: %v", err)
			}
			runs++
		}
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		t.Logf("%d checks with Fix ran during the uploads", runs)
		for key, data := range acked {
			if got := f.mustRead(t, "w", key); !bytes.Equal(got, data) {
				t.Errorf("%s: read %d bytes, want the %d acknowledged", key, len(got), len(data))
			}
		}
		for _, k := range orphans {
			if f.exists(t, k) {
				t.Errorf("planted orphan %s survived", k)
			}
		}
		got, _ := f.run(t, FsckOptions{Grace: time.Nanosecond})
		for _, x := range got {
			t.Errorf("after the uploads: %+v", x)
		}
	})
}

// multipartPut uploads data (over 5 MiB) as a multipart upload: two parts (the first 5 MiB)
// on the file store, where parts are blobs of their own; one on the s3 store.
func multipartPut(ctx context.Context, e *Engine, bucket, key string, data []byte) error {
	up, err := e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: bucket, Key: key, ContentType: "text/plain"})
	if err != nil {
		return err
	}
	chunks := [][]byte{data}
	if _, storeSide := e.store.(backend.Multipart); !storeSide {
		chunks = [][]byte{data[:5<<20], data[5<<20:]}
	}
	for i, c := range chunks {
		if _, err := e.UploadPart(ctx, service(), UploadPart{Bucket: bucket, Key: key, UploadID: up.ID, PartNumber: i + 1,
			Body: bytes.NewReader(c), Size: int64(len(c))}); err != nil {
			return err
		}
	}
	_, err = e.CompleteMultipartUpload(ctx, service(), CompleteMultipartUpload{Bucket: bucket, Key: key, UploadID: up.ID})
	return err
}

// TestFsckRecheckKeepsNamedKeys judges candidates the way a run does after its row pages
// were read: a key that got an object row, or a write intent, after that snapshot is kept
// and not reported; only the key nothing names is removed.
func TestFsckRecheckKeepsNamedKeys(t *testing.T) {
	fsckBackends(t, false, func(t *testing.T, f *fsckEnv) {
		ctx := context.Background()
		if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "q", FileSizeLimit: NoLimit}); err != nil {
			t.Fatal(err)
		}
		committed := f.mustPut(t, "q", "row", []byte("row"))
		rowKey := f.e.blobKey("q", "row", committed.Version)
		writing := f.e.opts.TenantID + "/q/writing/" + uuid.NewString()
		f.putBlob(t, writing, []byte("in flight"))
		f.addIntent(t, writing, db.IntentWrite, f.e.now().Add(time.Hour))
		keep := []string{rowKey, writing}
		if _, ok := f.store.(backend.SegmentFolder); ok {
			odd := f.mustPut(t, "q", "odd//name/", []byte("odd"))
			keep = append(keep, foldKey(f.e.blobKey("q", "odd//name/", odd.Version)))
		}
		orphan := f.e.opts.TenantID + "/q/orphan/" + uuid.NewString()
		f.putBlob(t, orphan, []byte("orphan"))

		var got []FsckFinding
		run := f.e.newFsck(FsckOptions{Fix: true, Grace: time.Nanosecond}, func(x FsckFinding) error { got = append(got, x); return nil })
		for _, k := range append(keep, orphan) {
			run.cands = append(run.cands, backend.Listed{Key: k})
		}
		if err := run.flush(ctx); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Key != orphan || !got[0].Removed {
			t.Fatalf("findings %+v, want only %s, removed", got, orphan)
		}
		for _, k := range keep {
			if !f.exists(t, k) {
				t.Errorf("%s removed by the re-check", k)
			}
		}
		if f.exists(t, orphan) {
			t.Errorf("orphan %s kept", orphan)
		}
		if got := f.mustRead(t, "q", "row"); string(got) != "row" {
			t.Fatalf("row reads %q", got)
		}
	})
}

// TestFsckSparesPausedWrite stops a write between its bytes and its commit (as a slow
// client's upload would be), runs Fsck with Fix while the blob is old and unreferenced by
// any row, then lets the write commit: it succeeds and reads back.
func TestFsckSparesPausedWrite(t *testing.T) {
	fsckBackends(t, false, func(t *testing.T, f *fsckEnv) {
		ctx := context.Background()
		if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "p", FileSizeLimit: NoLimit}); err != nil {
			t.Fatal(err)
		}
		reached, release := make(chan struct{}), make(chan struct{})
		f.e.hooks.afterBlobWrite = func() error { close(reached); <-release; return nil }
		done := make(chan error, 1)
		go func() {
			_, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "p", Key: "slow", Body: strings.NewReader("slow bytes"),
				Size: 10, ContentType: "text/plain"})
			done <- err
		}()
		select {
		case <-reached:
		case <-time.After(5 * time.Minute):
			t.Fatal("the write never reached its store step")
		}
		f.e.hooks.afterBlobWrite = nil
		f.advance(30 * time.Second) // older than the grace below; the intent (1 min + 25%) not expired
		got, rep := f.run(t, FsckOptions{Fix: true, Grace: time.Nanosecond})
		if len(got) != 0 || rep.Removed != 0 {
			t.Errorf("with a write in flight: findings %+v, removed %d", got, rep.Removed)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("the paused write: %v", err)
		}
		if got := f.mustRead(t, "p", "slow"); string(got) != "slow bytes" {
			t.Fatalf("the paused write reads %q", got)
		}
	})
}
