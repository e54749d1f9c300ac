package s3clients

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

// TestVersionsSurviveKill: an old version and a delete marker survive kill -9 and a
// restart; a lifecycle sweep that a kill -9 interrupts is resumed by the restarted server
// (its lease runs out) and never removes a live version.
func TestVersionsSurviveKill(t *testing.T) {
	ctx := context.Background()
	dbURL, dataDir := pgtest.URL(t), t.TempDir()
	s3Port := harness.FreePort(t)
	opts := harness.Options{DatabaseURL: dbURL, DataDir: dataDir, Env: map[string]string{"S3_PORT": strconv.Itoa(s3Port),
		"STORAGE_S3_REGION": region, "STOWAGE_LIFECYCLE_DAY_SECONDS": "1", "STOWAGE_SWEEP_INTERVAL": "1"}}
	srv := harness.Start(t, opts)
	e := &env{srv: srv, endpoint: srv.URL + "/s3", s3Port: s3Port}
	c := e.client(e.endpoint)
	const b = "crashver"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
	must(err)
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	must(err)
	put := func(key, body string) string {
		t.Helper()
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(key), Body: bytes.NewReader([]byte(body))})
		must(err)
		return aws.ToString(out.VersionId)
	}
	v1 := put("keep", "one")
	put("keep", "two")
	del, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("keep")})
	must(err)
	if !aws.ToBool(del.DeleteMarker) {
		t.Fatal("no delete marker")
	}
	for i := range 20 {
		put("exp/"+strconv.Itoa(i), "old")
		put("exp/"+strconv.Itoa(i), "new")
	}
	// Non-current versions under exp/ expire a "day" (1 s) after they became non-current.
	_, err = c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(b),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{
			ID: aws.String("exp"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("exp/")},
			NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}}}}})
	must(err)
	// Kill while the sweep may be at work (or may not have started: both must end well).
	time.Sleep(1500 * time.Millisecond) // lets the rule come due; no timing is asserted
	srv.Kill(t)

	srv = harness.Start(t, opts)
	e = &env{srv: srv, endpoint: srv.URL + "/s3", s3Port: s3Port}
	c = e.client(e.endpoint)
	// The old version and the marker are still there.
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("keep"), VersionId: aws.String(v1)})
	must(err)
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(data) != "one" {
		t.Fatalf("v1 after restart: %q", data)
	}
	versions := func(prefix string) ([]types.ObjectVersion, []types.DeleteMarkerEntry) {
		out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(b), Prefix: aws.String(prefix)})
		must(err)
		return out.Versions, out.DeleteMarkers
	}
	vs, dms := versions("keep")
	if len(vs) != 2 || len(dms) != 1 || !aws.ToBool(dms[0].IsLatest) {
		t.Fatalf("keep after restart: %d versions, %d markers", len(vs), len(dms))
	}
	// The restarted server finishes the sweep (a dead node's lease runs out after minutes:
	// the hang guard is generous) and keeps every current version.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		vs, _ := versions("exp/")
		if len(vs) == 20 {
			for _, v := range vs {
				if !aws.ToBool(v.IsLatest) {
					t.Fatalf("a non-current version is left: %s", aws.ToString(v.Key))
				}
				o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: v.Key})
				must(err)
				data, _ := io.ReadAll(o.Body)
				o.Body.Close()
				if string(data) != "new" {
					t.Fatalf("%s reads %q", aws.ToString(v.Key), data)
				}
			}
			break
		}
		if len(vs) < 20 {
			t.Fatalf("a live version was removed: %d versions under exp/", len(vs))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sweep did not finish: %d versions under exp/", len(vs))
		}
		time.Sleep(200 * time.Millisecond)
	}
	vs, dms = versions("keep")
	if len(vs) != 2 || len(dms) != 1 {
		t.Fatalf("keep (outside the rule) after the sweep: %d versions, %d markers", len(vs), len(dms))
	}
}
