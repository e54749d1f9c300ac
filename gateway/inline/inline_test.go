package inline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/backendtest"
	"github.com/stowage/stowage/gateway/backend/filebackend"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newStore is an inline store over a file store in a temporary folder, on a fresh database.
func newStore(t *testing.T, max int64) (*Store, *filebackend.Store, *db.DB) {
	t.Helper()
	d, err := db.Open(t.Context(), pgtest.URL(t), db.Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	files, err := filebackend.New(t.TempDir(), filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	return New(files, d, max), files, d
}

// The store contract, with every small blob of the suite in Postgres, and with a bound that
// splits the suite's blobs between the two places (List, Compose and Copy then mix them).
func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int64
	}{{"AllSmallInPostgres", DefaultMax}, {"Mixed", 5}} {
		t.Run(tc.name, func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) backend.Store {
				s, _, _ := newStore(t, tc.max)
				return s
			})
		})
	}
}

func put(t *testing.T, s backend.Store, key, body string) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, strings.NewReader(body), backend.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatalf("Put %q: %v", key, err)
	}
}

func read(t *testing.T, s backend.Store, key string) string {
	t.Helper()
	r, err := s.Open(t.Context(), key, backend.Whole)
	if err != nil {
		t.Fatalf("Open %q: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Where each blob goes: small ones (and only keys the files keep as they are) into
// Postgres, larger ones and unknown sizes into the files.
func TestPlacement(t *testing.T) {
	s, files, d := newStore(t, 8)
	ctx := t.Context()
	put(t, s, "t/b/small/v1", "12345678")
	put(t, s, "t/b/large/v1", "123456789")
	put(t, s, "t/b/a//b/v1", "1") // an empty segment: the files fold it, so it goes there
	if _, err := s.Put(ctx, "t/b/unknown/v1", strings.NewReader("1"), backend.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	inDB, err := d.SmallBlobKeys(ctx, []string{"t/b/small/v1", "t/b/large/v1", "t/b/a//b/v1", "t/b/unknown/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{"t/b/small/v1": true}; !mapsEqual(inDB, want) {
		t.Errorf("in Postgres: %v, want %v", inDB, want)
	}
	for key, want := range map[string]bool{"t/b/small/v1": false, "t/b/large/v1": true, "t/b/a//b/v1": true, "t/b/unknown/v1": true} {
		_, err := files.Stat(ctx, key)
		if got := err == nil; got != want {
			t.Errorf("file of %q exists: %v, want %v (%v)", key, got, want, err)
		}
	}
	for key, want := range map[string]string{"t/b/small/v1": "12345678", "t/b/large/v1": "123456789", "t/b/a//b/v1": "1", "t/b/unknown/v1": "1"} {
		if got := read(t, s, key); got != want {
			t.Errorf("%q reads %q, want %q", key, got, want)
		}
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Max 0 writes every blob to the files, and still reads blobs kept in Postgres before (a
// server restarted with STOWAGE_INLINE_MAX_BYTES=0).
func TestMaxZeroStillReads(t *testing.T) {
	s, files, d := newStore(t, DefaultMax)
	put(t, s, "t/b/old/v1", "kept in postgres")
	off := New(files, d, 0)
	put(t, off, "t/b/new/v1", "in a file")
	if _, err := files.Stat(t.Context(), "t/b/new/v1"); err != nil {
		t.Errorf("Max 0 did not write a file: %v", err)
	}
	if got := read(t, off, "t/b/old/v1"); got != "kept in postgres" {
		t.Errorf("old blob reads %q", got)
	}
	info, err := off.Stat(t.Context(), "t/b/old/v1")
	if err != nil || info.Size != int64(len("kept in postgres")) {
		t.Errorf("Stat = %+v, %v", info, err)
	}
}

// A key in both places (the contract's overwrite, from the files to Postgres and back)
// reads as the last Put, and lists once.
func TestOverwriteAcrossPlaces(t *testing.T) {
	s, _, _ := newStore(t, 4)
	put(t, s, "t/b/k/v1", "large body")
	put(t, s, "t/b/k/v1", "tiny")
	if got := read(t, s, "t/b/k/v1"); got != "tiny" {
		t.Fatalf("after a small overwrite: %q", got)
	}
	put(t, s, "t/b/k/v1", "large again")
	if got := read(t, s, "t/b/k/v1"); got != "large again" {
		t.Fatalf("after a large overwrite: %q", got)
	}
	var listed []string
	if err := s.List(t.Context(), "t/", "", func(l backend.Listed) error {
		listed = append(listed, l.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, []string{"t/b/k/v1"}) {
		t.Errorf("List = %q", listed)
	}
	if err := s.Delete(t.Context(), "t/b/k/v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), "t/b/k/v1"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("after Delete: Stat %v, want ErrNotFound (the shadowed row must go too)", err)
	}
}

// List merges both places in byte order across pages of Postgres rows.
func TestListMergesPages(t *testing.T) {
	s, _, _ := newStore(t, 1)
	var want []string
	for i := range 2*listPage + 7 {
		key := "t/b/" + strings.Repeat("k", 1+i%3) + "/" + string(rune('a'+i%26)) + "/" + itoa(i)
		body := "x" // in Postgres
		if i%5 == 0 {
			body = "xx" // in the files
		}
		put(t, s, key, body)
		want = append(want, key)
	}
	put(t, s, "u/outside", "x") // past the prefix
	slices.Sort(want)
	var got []string
	if err := s.List(t.Context(), "t/", "", func(l backend.Listed) error {
		got = append(got, l.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List: %d keys, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	// Starting after a key in the middle.
	mid := want[len(want)/2]
	got = got[:0]
	if err := s.List(t.Context(), "t/", mid, func(l backend.Listed) error {
		got = append(got, l.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want[len(want)/2+1:]) {
		t.Fatalf("List after %q: %d keys, want %d", mid, len(got), len(want)-len(want)/2-1)
	}
}

func itoa(i int) string {
	return string([]byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Compose of sources from both places streams them in order into the result, which lands
// where its size says.
func TestComposeMixed(t *testing.T) {
	s, files, d := newStore(t, 4)
	put(t, s, "t/b/p1", "ab")
	put(t, s, "t/b/p2", "cdefgh")
	put(t, s, "t/b/p3", "i")
	w, err := s.Compose(t.Context(), "t/b/all", []string{"t/b/p1", "t/b/p2", "t/b/p3"}, backend.PutOptions{Size: 9})
	if err != nil || w.Size != 9 {
		t.Fatalf("Compose = %+v, %v", w, err)
	}
	if got := read(t, s, "t/b/all"); got != "abcdefghi" {
		t.Errorf("composed %q", got)
	}
	if _, err := files.Stat(t.Context(), "t/b/all"); err != nil {
		t.Errorf("a 9-byte result should be a file: %v", err)
	}
	if _, err := s.Compose(t.Context(), "t/b/two", []string{"t/b/p1", "t/b/p3"}, backend.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	if m, err := d.SmallBlobKeys(t.Context(), []string{"t/b/two"}); err != nil || !m["t/b/two"] {
		t.Errorf("a 3-byte result should be in Postgres: %v, %v", m, err)
	}
	if _, err := s.Compose(t.Context(), "t/b/bad", []string{"t/b/p1", "t/b/p3"}, backend.PutOptions{Size: 4}); !errors.Is(err, backend.ErrSizeMismatch) {
		t.Errorf("wrong declared size: %v, want ErrSizeMismatch", err)
	}
	if _, err := s.Stat(t.Context(), "t/b/bad"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("a failed Compose left %q: %v", "t/b/bad", err)
	}
}

// Copy of a blob kept in Postgres stays there, without the bytes passing through us.
func TestCopyInPostgres(t *testing.T) {
	s, files, _ := newStore(t, 8)
	put(t, s, "t/b/src", "payload")
	w, err := s.Copy(t.Context(), "t/b/src", "t/b/dst")
	if err != nil || w.Size != 7 {
		t.Fatalf("Copy = %+v, %v", w, err)
	}
	if got := read(t, s, "t/b/dst"); got != "payload" {
		t.Errorf("copy reads %q", got)
	}
	if _, err := files.Stat(t.Context(), "t/b/dst"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("the copy made a file: %v", err)
	}
	if _, err := s.Copy(t.Context(), "t/b/missing", "t/b/x"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Copy of a missing blob: %v, want ErrNotFound", err)
	}
}

// A database that does not answer is the store's unavailability (503), never a missing
// blob or a client error.
func TestDatabaseDown(t *testing.T) {
	s, _, d := newStore(t, 8)
	put(t, s, "t/b/k", "abc")
	d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Put(ctx, "t/b/k2", bytes.NewReader([]byte("abc")), backend.PutOptions{Size: 3}); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Put with the database closed: %v, want ErrUnavailable", err)
	}
	if _, err := s.Open(ctx, "t/b/k", backend.Whole); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Open with the database closed: %v, want ErrUnavailable", err)
	}
}

// Spill moves every blob kept in Postgres into the files, where the reference server reads
// them, and the blobs read the same before and after.
func TestSpill(t *testing.T) {
	s, files, d := newStore(t, 16)
	want := map[string]string{}
	for i := range listPage + 3 { // more than a page of rows
		key := "t/b/k" + itoa(i) + "/v1"
		want[key] = "body " + itoa(i)
		put(t, s, key, want[key])
	}
	put(t, s, "t/b/large/v1", "a body too large for a row")
	want["t/b/large/v1"] = "a body too large for a row"
	var told int
	n, leftN, err := s.Spill(t.Context(), nil, func(key string, size int64) error {
		if size != int64(len(want[key])) {
			t.Errorf("spill told %q of %d bytes, want %d", key, size, len(want[key]))
		}
		told++
		return nil
	})
	if err != nil || n != listPage+3 || told != n || leftN != 0 {
		t.Fatalf("Spill = %d, %d left, %v (told %d), want %d, 0 left", n, leftN, err, told, listPage+3)
	}
	left, err := d.ListSmallBlobs(t.Context(), "", "", 10)
	if err != nil || len(left) != 0 {
		t.Fatalf("rows left after Spill: %v, %v", left, err)
	}
	for key, body := range want {
		if got := read(t, files, key); got != body {
			t.Fatalf("file of %q holds %q, want %q", key, got, body)
		}
	}
	if n, _, err := s.Spill(t.Context(), nil, nil); err != nil || n != 0 {
		t.Errorf("a second Spill = %d, %v; want nothing to move", n, err)
	}
}

// A delete that starts while Spill writes a blob's file (an overwrite's commit records the
// delete intent, its deleter removes the file, which is not written yet, then the row):
// Spill keeps the row and removes the file it wrote, so the deleter leaves nothing behind.
// A blob an intent names before Spill reaches it is not written at all.
func TestSpillRacesDelete(t *testing.T) {
	s, files, d := newStore(t, 16)
	ctx := t.Context()
	addIntent := func(key string) {
		t.Helper()
		if _, err := d.Pool().Exec(ctx, `insert into stowage.blob_intents (key, kind, expires_at) values ($1, 'delete', now())`, key); err != nil {
			t.Fatal(err)
		}
	}
	put(t, s, "t/b/racing/v1", "racing")
	put(t, s, "t/b/pending/v1", "pending")
	addIntent("t/b/pending/v1")
	s.afterSpillWrite = func(key string) {
		if key != "t/b/racing/v1" {
			t.Errorf("spill wrote %q, whose intent was there before", key)
			return
		}
		addIntent(key)
		if err := files.Delete(ctx, key); err != nil { // the deleter, before the file existed
			t.Error(err)
		}
	}
	moved, left, err := s.Spill(ctx, nil, nil)
	if err != nil || moved != 0 || left != 2 {
		t.Fatalf("Spill = %d moved, %d left, %v; want 0, 2", moved, left, err)
	}
	for _, key := range []string{"t/b/racing/v1", "t/b/pending/v1"} {
		if _, err := files.Stat(ctx, key); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("file of %q after Spill: %v, want none", key, err)
		}
		// The deleter goes on: the row and its intent.
		if err := d.ForgetSmallBlobs(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(ctx, key, backend.Whole); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Open %q after its delete: %v, want ErrNotFound", key, err)
		}
	}
}

// Two Spills at once move each blob once, and neither removes a file the other made.
func TestSpillTwiceAtOnce(t *testing.T) {
	s, files, d := newStore(t, 16)
	want := map[string]string{}
	for i := range 40 {
		key := "t/b/k" + itoa(i) + "/v1"
		want[key] = "body " + itoa(i)
		put(t, s, key, want[key])
	}
	var wg sync.WaitGroup
	counts := make([]int, 2)
	errs := make([]error, 2)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], _, errs[i] = s.Spill(t.Context(), nil, nil)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || counts[0]+counts[1] != len(want) {
		t.Fatalf("Spills moved %v (%v), want %d in all", counts, errs, len(want))
	}
	if left, err := d.ListSmallBlobs(t.Context(), "", "", 10); err != nil || len(left) != 0 {
		t.Fatalf("rows left: %v, %v", left, err)
	}
	for key, body := range want {
		if got := read(t, files, key); got != body {
			t.Fatalf("file of %q holds %q, want %q", key, got, body)
		}
	}
}
