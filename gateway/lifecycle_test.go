package gateway

import (
	"context"
	"testing"
	"time"
)

func (f *fixture) sweepLifecycle(t *testing.T) int {
	t.Helper()
	n, err := f.e.SweepLifecycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLifecycleVersionedRules: Expiration writes a delete marker over an expired current
// version, NoncurrentVersionExpiration removes old versions (keeping NewerNoncurrentVersions),
// ExpiredObjectDeleteMarker removes a marker left alone; keys outside the filter (prefix,
// tag) are never touched, and nothing is due before its time.
func TestLifecycleVersionedRules(t *testing.T) {
	versionFixtures(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.bucket(t, "lc")
		f.enableVersioning(t, "lc", VersioningEnabled)
		rules := []LifecycleRule{
			{ID: "logs", Enabled: true, Prefix: "logs/", ExpirationDays: 1, NoncurrentDays: 1, ExpiredObjectDeleteMarker: true},
			{ID: "keep-two", Enabled: true, Prefix: "hist/", NoncurrentDays: 1, NewerNoncurrentVersions: 1},
			{ID: "tagged", Enabled: true, Tags: []Tag{{Key: "tmp", Value: "yes"}}, ExpirationDays: 2},
			{ID: "off", Enabled: false, Prefix: "keep/", ExpirationDays: 1},
		}
		if err := f.e.SetBucketLifecycle(ctx, service(), "lc", rules); err != nil {
			t.Fatal(err)
		}
		got, err := f.e.BucketLifecycle(ctx, service(), "lc")
		if err != nil || len(got) != 4 || got[2].Tags[0].Key != "tmp" {
			t.Fatalf("rules %+v %v", got, err)
		}
		for _, k := range []string{"logs/a", "logs/a", "hist/h", "hist/h", "hist/h", "keep/b"} {
			if _, err := f.put(t, service(), "lc", k, []byte(k), true); err != nil {
				t.Fatal(err)
			}
		}
		tagged, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "lc", Key: "t", Body: nil, Upsert: true,
			Extra: Extra{Tags: []Tag{{Key: "tmp", Value: "yes"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if tagged.Expiration == nil || tagged.Expiration.RuleID != "tagged" {
			t.Fatalf("expiration of the tagged object: %+v", tagged.Expiration)
		}
		if n := f.sweepLifecycle(t); n != 0 {
			t.Fatalf("%d actions before anything is due", n)
		}
		f.advance(3 * 24 * time.Hour)
		f.sweepLifecycle(t)
		count := func(prefix string) (versions, markers int) {
			vs, _ := f.allVersions(t, service(), ListVersions{Bucket: "lc", Prefix: prefix})
			for _, v := range vs {
				if v.DeleteMarker {
					markers++
				} else {
					versions++
				}
			}
			return
		}
		if v, m := count("logs/"); v != 0 || m != 0 {
			t.Fatalf("logs/: %d versions, %d markers left", v, m)
		}
		if v, m := count("hist/"); v != 2 || m != 0 {
			t.Fatalf("hist/: %d versions (want current + 1 newer non-current), %d markers", v, m)
		}
		if v, _ := count("keep/"); v != 1 {
			t.Fatalf("keep/ (disabled rule): %d versions", v)
		}
		if v, m := count("t"); v != 1 || m != 1 {
			t.Fatalf("tagged: %d versions, %d markers; want the expired version under a marker", v, m)
		}
		if err := f.e.SetBucketLifecycle(ctx, service(), "lc", nil); err != nil {
			t.Fatal(err)
		}
		_, err = f.e.BucketLifecycle(ctx, service(), "lc")
		wantCode(t, err, CodeNoSuchLifecycle)
	})
}

// TestLifecycleNeverExpiresANewVersion: a key rewritten between the sweep's read and its
// expiry keeps the new version; an unversioned bucket's expired object loses its bytes; an
// old multipart upload is aborted.
func TestLifecycleNeverExpiresANewVersion(t *testing.T) {
	versionFixtures(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.bucket(t, "lc2")
		if err := f.e.SetBucketLifecycle(ctx, service(), "lc2", []LifecycleRule{{ID: "all", Enabled: true, ExpirationDays: 1, AbortDays: 1}}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"race", "old"} {
			if _, err := f.put(t, service(), "lc2", k, []byte("old"), true); err != nil {
				t.Fatal(err)
			}
		}
		up, err := f.e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "lc2", Key: "mp"})
		if err != nil {
			t.Fatal(err)
		}
		f.advance(3 * 24 * time.Hour)
		f.e.hooks.beforeExpire = func(key string) {
			if key == "race" {
				if _, err := f.put(t, service(), "lc2", "race", []byte("new"), true); err != nil {
					t.Error(err)
				}
			}
		}
		f.sweepLifecycle(t)
		f.e.hooks.beforeExpire = nil
		if b, err := f.read(t, service(), "lc2", "race"); err != nil || string(b) != "new" {
			t.Fatalf("race: %q %v", b, err)
		}
		if _, err := f.read(t, service(), "lc2", "old"); CodeOf(err) != CodeNoSuchKey {
			t.Fatalf("old: %v", err)
		}
		if n := len(f.blobs(t)); n != 1 {
			t.Fatalf("%d blobs, want 1 (race's new version)", n)
		}
		err = f.e.AbortMultipartUpload(ctx, service(), "lc2", "mp", up.ID)
		wantCode(t, err, CodeNoSuchUpload)
	})
}

// TestLifecycleLeaseSurvivesACrash: a bucket leased by a node that died is skipped until
// the lease runs out, then swept by another node.
func TestLifecycleLeaseSurvivesACrash(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "lc3")
	if err := f.e.SetBucketLifecycle(ctx, service(), "lc3", []LifecycleRule{{ID: "all", Enabled: true, ExpirationDays: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.put(t, service(), "lc3", "k", []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	f.advance(3 * 24 * time.Hour)
	// A node takes the lease and dies before releasing it.
	if _, err := f.db.Pool().Exec(ctx, `update stowage.bucket_lifecycle set lease_owner = 'dead', lease_until = $1 where bucket_id = 'lc3'`,
		f.e.now().Add(lifecycleLease)); err != nil {
		t.Fatal(err)
	}
	if n := f.sweepLifecycle(t); n != 0 {
		t.Fatalf("swept a leased bucket: %d", n)
	}
	f.advance(lifecycleLease + time.Second)
	if n := f.sweepLifecycle(t); n != 1 {
		t.Fatalf("%d actions after the lease expired, want 1", n)
	}
}
