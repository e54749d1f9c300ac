package gateway

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/backend/s3backend"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

// versionFixtures runs fn on an engine over the file store and, unless -short, over
// upstream S3 (a fresh MinIO bucket): versions keep their bytes under their own blob keys,
// so both stores must hold exactly the blobs the versions name.
func versionFixtures(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("file", func(t *testing.T) { fn(t, newFixture(t)) })
	t.Run("s3", func(t *testing.T) { fn(t, newS3Fixture(t)) })
}

// newS3Fixture is the test fixture over a MinIO bucket; its blobs are the bucket's keys.
func newS3Fixture(t *testing.T) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	ctx := context.Background()
	m := miniotest.Start(t)
	d, err := db.Open(ctx, pgtest.URL(t), db.Options{MaxConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	store, err := s3backend.New(ctx, s3backend.Options{Bucket: m.Bucket, Endpoint: m.Endpoint, Region: m.Region,
		ForcePathStyle: true, AccessKeyID: m.AccessKey, SecretAccessKey: m.Secret})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: d}
	f.clock.Store(time.Now().UnixNano())
	f.e = New(d, store, Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute,
		Now: func() time.Time { return time.Unix(0, f.clock.Load()) }})
	f.upstream = func(t *testing.T) []string {
		t.Helper()
		var keys []string
		p := s3.NewListObjectsV2Paginator(m.Client(), &s3.ListObjectsV2Input{Bucket: &m.Bucket})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Contents {
				keys = append(keys, *o.Key)
			}
		}
		return keys
	}
	return f
}

// TestDeleteMarkerWithoutCurrent: S3's delete without a version id (DeleteObjectsReport)
// writes a delete marker for a key without a current version in a versioned bucket: on top
// of an earlier marker, or as the only version of a key that never existed. Suspended
// writes the "null" marker, replacing the non-current "null" version and its bytes. The
// caller's DELETE policy decides (refused keys get no marker), and the REST delete
// (DeleteObject) of such a key is still NoSuchKey and writes nothing.
func TestDeleteMarkerWithoutCurrent(t *testing.T) {
	versionFixtures(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.bucket(t, "dm")
		f.enableVersioning(t, "dm", VersioningSuspended)
		null, err := f.put(t, service(), "dm", "k", []byte("null"), true)
		if err != nil || null.VersionID != NullVersionID {
			t.Fatalf("put null: %+v %v", null, err)
		}
		f.enableVersioning(t, "dm", VersioningEnabled)
		v1, err := f.put(t, service(), "dm", "k", []byte("one"), true)
		if err != nil {
			t.Fatal(err)
		}
		del := func(c Caller, keys ...string) DeleteReport {
			t.Helper()
			r, err := f.e.DeleteObjectsReport(ctx, c, "dm", keys)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		marker := func(r DeleteReport, key string) string {
			t.Helper()
			for _, o := range r.Deleted {
				if o.Key == key && o.DeleteMarker && o.VersionID != "" {
					return o.VersionID
				}
			}
			t.Fatalf("no delete marker for %s in %+v", key, r)
			return ""
		}
		m1 := marker(del(service(), "k"), "k")
		m2 := marker(del(service(), "k"), "k")
		r := del(service(), "never", "never", "k")
		m3, m4 := marker(r, "never"), marker(r, "k")
		if len(r.Deleted) != 2 || m1 == m2 || m2 == m4 {
			t.Fatalf("markers %s %s %s, report %+v", m1, m2, m4, r)
		}
		keyVersions := func(key string) []string {
			t.Helper()
			vs, _ := f.allVersions(t, service(), ListVersions{Bucket: "dm", Prefix: key})
			var out []string
			for _, v := range vs {
				if v.Key != key {
					continue
				}
				s := v.VersionID
				if v.DeleteMarker {
					s += "(dm)"
				}
				if v.IsLatest {
					s += "*"
				}
				out = append(out, s)
			}
			return out
		}
		if got, want := keyVersions("k"), []string{m4 + "(dm)*", m2 + "(dm)", m1 + "(dm)", v1.VersionID, NullVersionID}; !slices.Equal(got, want) {
			t.Fatalf("k: %v, want %v", got, want)
		}
		if got, want := keyVersions("never"), []string{m3 + "(dm)*"}; !slices.Equal(got, want) {
			t.Fatalf("never: %v, want %v", got, want)
		}
		_, _, err = f.readVersion(t, service(), "dm", "never", "")
		var ge *Error
		if CodeOf(err) != CodeNoSuchKey || !asErr(err, &ge) || !ge.DeleteMarker || ge.VersionID != m3 {
			t.Fatalf("read of never: %v", err)
		}
		// The REST delete keeps the reference's answer.
		_, err = f.e.DeleteObject(ctx, service(), "dm", "rest-missing")
		wantCode(t, err, CodeNoSuchKey)
		if got := keyVersions("rest-missing"); len(got) != 0 {
			t.Fatalf("REST delete wrote %v", got)
		}
		if n := len(f.blobs(t)); n != 2 {
			t.Fatalf("%d blobs, want 2 (null, v1)", n)
		}

		// Suspended: a null marker replaces the null version (and its bytes), then itself.
		f.enableVersioning(t, "dm", VersioningSuspended)
		for range 2 {
			if id := marker(del(service(), "k"), "k"); id != NullVersionID {
				t.Fatalf("Suspended marker %q", id)
			}
		}
		if got, want := keyVersions("k"), []string{NullVersionID + "(dm)*", m4 + "(dm)", m2 + "(dm)", m1 + "(dm)", v1.VersionID}; !slices.Equal(got, want) {
			t.Fatalf("k after Suspended deletes: %v, want %v", got, want)
		}
		if n := len(f.blobs(t)); n != 1 {
			t.Fatalf("%d blobs, want 1 (v1)", n)
		}
		if b, _, err := f.readVersion(t, service(), "dm", "k", v1.VersionID); err != nil || string(b) != "one" {
			t.Fatalf("v1: %q %v", b, err)
		}

		// RLS: a user confined to her own folder marks her keys only.
		f.enableVersioning(t, "dm", VersioningEnabled)
		f.ownFolderPolicies(t, "dm", "select", "insert", "update", "delete")
		const alice = "6f0c1d7e-0000-4000-8000-00000000a11c"
		r = del(user(alice), alice+"/mine", "someone-else/theirs")
		marker(r, alice+"/mine")
		if len(r.Deleted) != 1 || !slices.Equal(r.Refused, []string{"someone-else/theirs"}) {
			t.Fatalf("alice's delete: %+v", r)
		}
		if got := keyVersions("someone-else/theirs"); len(got) != 0 {
			t.Fatalf("a refused delete wrote %v", got)
		}
	})
}
