package gateway

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
)

// readVersion reads one version's bytes (latest when id is "").
func (f *fixture) readVersion(t *testing.T, c Caller, bucket, key, id string) ([]byte, Object, error) {
	t.Helper()
	r, err := f.e.GetObject(context.Background(), c, GetObject{Bucket: bucket, Key: key, VersionID: id, Versions: true})
	if err != nil {
		return nil, r.Object, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return b, r.Object, err
}

// allVersions lists every version of bucket under prefix, page by page.
func (f *fixture) allVersions(t *testing.T, c Caller, in ListVersions) ([]ObjectVersion, []string) {
	t.Helper()
	var out []ObjectVersion
	var prefixes []string
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("listing does not end")
		}
		page, err := f.e.ListObjectVersions(context.Background(), c, in)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Versions...)
		prefixes = append(prefixes, page.CommonPrefixes...)
		if !page.IsTruncated {
			return out, prefixes
		}
		in.KeyMarker, in.VersionIDMarker = page.NextKeyMarker, page.NextVersionIDMarker
	}
}

func (f *fixture) enableVersioning(t *testing.T, bucket, status string) {
	t.Helper()
	if err := f.e.SetBucketVersioning(context.Background(), service(), bucket, status); err != nil {
		t.Fatal(err)
	}
}

// TestNeverVersionedUnchanged: without versioning an overwrite and a delete remove the old
// bytes at once and no version id is reported.
func TestNeverVersionedUnchanged(t *testing.T) {
	versionFixtures(t, func(t *testing.T, f *fixture) {
		f.bucket(t, "plain")
		for i := range 3 {
			o, err := f.put(t, service(), "plain", "k", []byte(fmt.Sprint(i)), true)
			if err != nil || o.VersionID != "" {
				t.Fatalf("put: %+v %v", o, err)
			}
		}
		if n := len(f.blobs(t)); n != 1 {
			t.Fatalf("%d blobs after overwrites, want 1", n)
		}
		_, o, err := f.readVersion(t, service(), "plain", "k", "")
		if err != nil || o.VersionID != "" {
			t.Fatalf("read: %+v %v", o, err)
		}
		status, err := f.e.BucketVersioning(context.Background(), service(), "plain")
		if err != nil || status != "" {
			t.Fatalf("status %q %v", status, err)
		}
		vs, _ := f.allVersions(t, service(), ListVersions{Bucket: "plain"})
		if len(vs) != 1 || vs[0].VersionID != NullVersionID || !vs[0].IsLatest {
			t.Fatalf("versions %+v", vs)
		}
		if _, err := f.e.DeleteObject(context.Background(), service(), "plain", "k"); err != nil {
			t.Fatal(err)
		}
		if n := len(f.blobs(t)); n != 0 {
			t.Fatalf("%d blobs after delete, want 0", n)
		}
		if err := f.e.DeleteBucket(context.Background(), service(), "plain", DeleteBucketOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestVersioningLifecycleOfAKey walks one key through S3's versioning rules: overwrites
// keep old versions, a delete writes a marker, reads by version id, a marker read by id
// is MethodNotAllowed, deleting the marker uncovers the version below, deleting a version
// removes its bytes, and a bucket with versions is not empty.
func TestVersioningLifecycleOfAKey(t *testing.T) {
	versionFixtures(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.bucket(t, "ver")
		pre, err := f.put(t, service(), "ver", "k", []byte("before"), true)
		if err != nil {
			t.Fatal(err)
		}
		f.enableVersioning(t, "ver", VersioningEnabled)
		if s, _ := f.e.BucketVersioning(ctx, service(), "ver"); s != VersioningEnabled {
			t.Fatalf("status %q", s)
		}
		v1, err := f.put(t, service(), "ver", "k", []byte("one"), true)
		if err != nil || v1.VersionID == "" || v1.VersionID == NullVersionID {
			t.Fatalf("put v1: %+v %v", v1, err)
		}
		v2, err := f.put(t, service(), "ver", "k", []byte("two"), true)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(f.blobs(t)); n != 3 {
			t.Fatalf("%d blobs, want 3 (null, v1, v2)", n)
		}
		for id, want := range map[string]string{NullVersionID: "before", v1.VersionID: "one", v2.VersionID: "two", "": "two"} {
			b, o, err := f.readVersion(t, service(), "ver", "k", id)
			if err != nil || string(b) != want {
				t.Fatalf("version %q: %q %v", id, b, err)
			}
			if id != "" && o.VersionID != id || id == "" && o.VersionID != v2.VersionID {
				t.Fatalf("version %q reported as %q", id, o.VersionID)
			}
		}
		_ = pre
		vs, _ := f.allVersions(t, service(), ListVersions{Bucket: "ver"})
		ids := func(vs []ObjectVersion) []string {
			var out []string
			for _, v := range vs {
				s := v.VersionID
				if v.IsLatest {
					s += "*"
				}
				if v.DeleteMarker {
					s += "(dm)"
				}
				out = append(out, s)
			}
			return out
		}
		if got, want := ids(vs), []string{v2.VersionID + "*", v1.VersionID, NullVersionID}; !slices.Equal(got, want) {
			t.Fatalf("versions %v, want %v", got, want)
		}

		// A delete writes a marker; the key reads as missing, with the marker named.
		d, err := f.e.DeleteObject(ctx, service(), "ver", "k")
		if err != nil || !d.DeleteMarker || d.VersionID == "" {
			t.Fatalf("delete: %+v %v", d, err)
		}
		_, _, err = f.readVersion(t, service(), "ver", "k", "")
		var ge *Error
		if CodeOf(err) != CodeNoSuchKey || !asErr(err, &ge) || !ge.DeleteMarker || ge.VersionID != d.VersionID {
			t.Fatalf("read after delete: %v", err)
		}
		_, _, err = f.readVersion(t, service(), "ver", "k", d.VersionID)
		wantCode(t, err, CodeMethodNotAllowed)
		_, _, err = f.readVersion(t, service(), "ver", "k", "no-such-version")
		wantCode(t, err, CodeNoSuchVersion)
		vs, _ = f.allVersions(t, service(), ListVersions{Bucket: "ver"})
		if got, want := ids(vs), []string{d.VersionID + "*(dm)", v2.VersionID, v1.VersionID, NullVersionID}; !slices.Equal(got, want) {
			t.Fatalf("versions %v, want %v", got, want)
		}
		if n := len(f.blobs(t)); n != 3 {
			t.Fatalf("%d blobs after delete, want 3", n)
		}
		// REST-style listings see no object.
		if l, err := f.e.ListObjects(ctx, service(), ListObjects{Bucket: "ver", MaxKeys: 10}); err != nil || len(l.Objects) != 0 {
			t.Fatalf("list: %+v %v", l, err)
		}
		wantCode(t, f.e.DeleteBucket(ctx, service(), "ver", DeleteBucketOptions{}), CodeBucketNotEmpty)

		// Removing the marker uncovers v2.
		if r, err := f.e.DeleteObjectVersion(ctx, service(), "ver", "k", d.VersionID); err != nil || !r.DeleteMarker {
			t.Fatalf("delete marker: %+v %v", r, err)
		}
		if b, o, err := f.readVersion(t, service(), "ver", "k", ""); err != nil || string(b) != "two" || o.VersionID != v2.VersionID {
			t.Fatalf("after removing the marker: %q %+v %v", b, o, err)
		}
		// Deleting the current version by id uncovers v1 and removes v2's bytes.
		if _, err := f.e.DeleteObjectVersion(ctx, service(), "ver", "k", v2.VersionID); err != nil {
			t.Fatal(err)
		}
		if b, o, err := f.readVersion(t, service(), "ver", "k", ""); err != nil || string(b) != "one" || o.VersionID != v1.VersionID {
			t.Fatalf("after deleting v2: %q %+v %v", b, o, err)
		}
		if n := len(f.blobs(t)); n != 2 {
			t.Fatalf("%d blobs, want 2", n)
		}
		// A version that does not exist deletes nothing and is no error.
		if _, err := f.e.DeleteObjectVersion(ctx, service(), "ver", "k", "missing"); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{NullVersionID, v1.VersionID} {
			if _, err := f.e.DeleteObjectVersion(ctx, service(), "ver", "k", id); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(f.blobs(t)); n != 0 {
			t.Fatalf("%d blobs, want 0", n)
		}
		if err := f.e.DeleteBucket(ctx, service(), "ver", DeleteBucketOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

func asErr(err error, ge **Error) bool {
	e, ok := err.(*Error)
	*ge = e
	return ok
}

// TestVersioningSuspended: a Suspended bucket writes the "null" version, replacing an
// earlier null version (and its bytes) but keeping versions with ids.
func TestVersioningSuspended(t *testing.T) {
	versionFixtures(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.bucket(t, "susp")
		f.enableVersioning(t, "susp", VersioningEnabled)
		v1, err := f.put(t, service(), "susp", "k", []byte("one"), true)
		if err != nil {
			t.Fatal(err)
		}
		f.enableVersioning(t, "susp", VersioningSuspended)
		for _, body := range []string{"n1", "n2"} {
			o, err := f.put(t, service(), "susp", "k", []byte(body), true)
			if err != nil || o.VersionID != NullVersionID {
				t.Fatalf("put: %+v %v", o, err)
			}
		}
		if n := len(f.blobs(t)); n != 2 {
			t.Fatalf("%d blobs, want 2 (v1, null)", n)
		}
		d, err := f.e.DeleteObject(ctx, service(), "susp", "k")
		if err != nil || d.VersionID != NullVersionID || !d.DeleteMarker {
			t.Fatalf("delete: %+v %v", d, err)
		}
		if n := len(f.blobs(t)); n != 1 {
			t.Fatalf("%d blobs after delete, want 1 (v1)", n)
		}
		if b, _, err := f.readVersion(t, service(), "susp", "k", v1.VersionID); err != nil || string(b) != "one" {
			t.Fatalf("v1: %q %v", b, err)
		}
	})
}

// TestListVersionsPagination lists many versions of a few keys at every page size and
// with a delimiter: each version exactly once, in order, whatever the page boundaries.
func TestListVersionsPagination(t *testing.T) {
	f := newFixture(t)
	f.bucket(t, "pages")
	f.enableVersioning(t, "pages", VersioningEnabled)
	var want []string
	for _, key := range []string{"a/1", "a/2", "b", "c/d/e"} {
		var ids []string
		for i := range 5 {
			o, err := f.put(t, service(), "pages", key, []byte(fmt.Sprint(key, i)), true)
			if err != nil {
				t.Fatal(err)
			}
			ids = append([]string{key + "@" + o.VersionID}, ids...)
		}
		want = append(want, ids...)
	}
	for size := 1; size <= 22; size++ {
		vs, _ := f.allVersions(t, service(), ListVersions{Bucket: "pages", MaxKeys: size})
		var got []string
		for _, v := range vs {
			got = append(got, v.Key+"@"+v.VersionID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("page size %d: %v, want %v", size, got, want)
		}
		vs, prefixes := f.allVersions(t, service(), ListVersions{Bucket: "pages", MaxKeys: size, Delimiter: "/"})
		if len(vs) != 5 || vs[0].Key != "b" || !slices.Equal(prefixes, []string{"a/", "c/"}) {
			t.Fatalf("page size %d with delimiter: %d versions, prefixes %v", size, len(vs), prefixes)
		}
		vs, _ = f.allVersions(t, service(), ListVersions{Bucket: "pages", MaxKeys: size, Prefix: "a/"})
		if len(vs) != 10 {
			t.Fatalf("page size %d under a/: %d versions", size, len(vs))
		}
	}
}

// TestVersionsFollowRLS: a user whose policies confine her to her own folder neither
// lists nor reads nor deletes the versions of another user's keys, also once their latest
// version is a delete marker.
func TestVersionsFollowRLS(t *testing.T) {
	versionFixtures(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.bucket(t, "rls")
		f.ownFolderPolicies(t, "rls", "select", "insert", "update", "delete")
		f.enableVersioning(t, "rls", VersioningEnabled)
		const alice, bob = "6f0c1d7e-0000-4000-8000-00000000a11c", "6f0c1d7e-0000-4000-8000-000000000b0b"
		var bobFirst Object
		for i := range 2 {
			o, err := f.put(t, user(bob), "rls", bob+"/f", []byte(fmt.Sprint(i)), true)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				bobFirst = o
			}
			if _, err := f.put(t, user(alice), "rls", alice+"/f", []byte(fmt.Sprint(i)), true); err != nil {
				t.Fatal(err)
			}
		}
		check := func(stage string) {
			vs, _ := f.allVersions(t, user(alice), ListVersions{Bucket: "rls"})
			for _, v := range vs {
				if v.Key != alice+"/f" {
					t.Fatalf("%s: alice lists %s", stage, v.Key)
				}
			}
			if len(vs) != 2 {
				t.Fatalf("%s: alice lists %d versions, want 2", stage, len(vs))
			}
			if _, _, err := f.readVersion(t, user(alice), "rls", bob+"/f", bobFirst.VersionID); CodeOf(err) != CodeNoSuchKey {
				t.Fatalf("%s: alice reads bob's version: %v", stage, err)
			}
			_, err := f.e.DeleteObjectVersion(ctx, user(alice), "rls", bob+"/f", bobFirst.VersionID)
			wantCode(t, err, CodeForbidden)
			if b, _, err := f.readVersion(t, user(bob), "rls", bob+"/f", bobFirst.VersionID); err != nil || string(b) != "0" {
				t.Fatalf("%s: bob reads his version: %q %v", stage, b, err)
			}
		}
		check("live")
		if _, err := f.e.DeleteObject(ctx, user(bob), "rls", bob+"/f"); err != nil {
			t.Fatal(err)
		}
		check("deleted")
	})
}

// TestVersionedConcurrentWritersAndDeleters: many writers and deleters on one key of a
// versioned bucket; every acknowledged write is a listed version with its bytes, every
// delete's marker is listed, and exactly one version is the latest.
func TestVersionedConcurrentWritersAndDeleters(t *testing.T) {
	versionFixtures(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.bucket(t, "conc")
		f.enableVersioning(t, "conc", VersioningEnabled)
		const workers, rounds = 6, 15
		var mu sync.Mutex
		written := map[string]string{}
		markers := map[string]bool{}
		var wg sync.WaitGroup
		errs := make(chan error, workers*rounds)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					if w%3 == 2 {
						d, err := f.e.DeleteObject(ctx, service(), "conc", "k")
						// DatabaseTimeout (544/503, retryable): the delete lost its serialization
						// retries to the writers and was not acknowledged.
						if err != nil && CodeOf(err) != CodeNoSuchKey && CodeOf(err) != CodeDatabaseTimeout {
							errs <- err
						}
						if err == nil {
							mu.Lock()
							markers[d.VersionID] = true
							mu.Unlock()
						}
						continue
					}
					body := fmt.Sprintf("w%d-%d", w, i)
					o, err := f.put(t, service(), "conc", "k", []byte(body), true)
					if err != nil {
						errs <- err
						continue
					}
					mu.Lock()
					written[o.VersionID] = body
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		vs, _ := f.allVersions(t, service(), ListVersions{Bucket: "conc"})
		latest := 0
		seen := map[string]bool{}
		for _, v := range vs {
			if v.IsLatest {
				latest++
			}
			if seen[v.VersionID] {
				t.Fatalf("version %s listed twice", v.VersionID)
			}
			seen[v.VersionID] = true
			if v.DeleteMarker != markers[v.VersionID] {
				t.Fatalf("version %s: delete marker %v", v.VersionID, v.DeleteMarker)
			}
		}
		if latest != 1 {
			t.Fatalf("%d latest versions", latest)
		}
		if len(vs) != len(written)+len(markers) {
			t.Fatalf("%d versions listed, %d writes and %d markers acknowledged", len(vs), len(written), len(markers))
		}
		for id, body := range written {
			b, _, err := f.readVersion(t, service(), "conc", "k", id)
			if err != nil || string(b) != body {
				t.Fatalf("version %s: %q %v, want %q", id, b, err, body)
			}
		}
	})
}

// TestVersionedMoveAndCopy: a REST move in a versioned bucket keeps the moved-away row as
// a version of its old key (under a delete marker) and the replaced destination as a
// version of the new one; a copy of an old version onto its key restores it.
func TestVersionedMoveAndCopy(t *testing.T) {
	versionFixtures(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.bucket(t, "mv")
		f.enableVersioning(t, "mv", VersioningEnabled)
		a, err := f.put(t, service(), "mv", "a", []byte("A"), true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.put(t, service(), "mv", "b", []byte("B"), true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.MoveObject(ctx, service(), CopyObject{SrcBucket: "mv", SrcKey: "a", DstBucket: "mv", DstKey: "b", Upsert: true}); err != nil {
			t.Fatal(err)
		}
		if got, _, err := f.readVersion(t, service(), "mv", "b", ""); err != nil || string(got) != "A" {
			t.Fatalf("b: %q %v", got, err)
		}
		for key, v := range map[string]Object{"a": a, "b": b} {
			if got, _, err := f.readVersion(t, service(), "mv", key, v.VersionID); err != nil || string(got) != v.Key[:0]+map[string]string{"a": "A", "b": "B"}[key] {
				t.Fatalf("old version of %s: %q %v", key, got, err)
			}
		}
		if _, _, err := f.readVersion(t, service(), "mv", "a", ""); CodeOf(err) != CodeNoSuchKey {
			t.Fatalf("a after the move: %v", err)
		}
		// Restore b's old version by copying it onto b.
		o, err := f.e.CopyObject(ctx, service(), CopyObject{SrcBucket: "mv", SrcKey: "b", SrcVersionID: b.VersionID, DstBucket: "mv", DstKey: "b", Upsert: true})
		if err != nil || o.VersionID == "" {
			t.Fatalf("restore: %+v %v", o, err)
		}
		if got, _, err := f.readVersion(t, service(), "mv", "b", ""); err != nil || string(got) != "B" {
			t.Fatalf("restored b: %q %v", got, err)
		}
		vs, _ := f.allVersions(t, service(), ListVersions{Bucket: "mv", Prefix: "b"})
		if len(vs) != 3 {
			t.Fatalf("b has %d versions, want 3", len(vs))
		}
	})
}
