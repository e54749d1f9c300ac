package s3proto

import (
	"context"
	"encoding/xml"
	"testing"
)

// TestDeleteBucketWithPendingUpload: S3's DeleteBucket aborts unfinished multipart uploads
// instead of answering BucketNotEmpty (which broke client cleanups that abort nothing).
func TestDeleteBucketWithPendingUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/pend", nil, nil, 200)
	_, data := f.must(t, "POST", "/s3/pend/k?uploads", nil, nil, 200)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal(data, &init); err != nil {
		t.Fatal(err)
	}
	f.must(t, "PUT", "/s3/pend/k?uploadId="+init.UploadID+"&partNumber=1", []byte("part"), nil, 200)
	f.must(t, "DELETE", "/s3/pend", nil, nil, 204)
	_, data = f.must(t, "GET", "/s3/pend?uploads", nil, nil, 404)
	wantContains(t, data, "<Code>NoSuchBucket</Code>")
	// An object still blocks it.
	f.must(t, "PUT", "/s3/pend", nil, nil, 200)
	f.must(t, "PUT", "/s3/pend/obj", []byte("x"), nil, 200)
	_, data = f.must(t, "DELETE", "/s3/pend", nil, nil, 409)
	wantContains(t, data, "<Code>BucketNotEmpty</Code>")
}

// TestCreateBucketS3 pins S3's CreateBucket answers: S3's naming rules for new buckets,
// BucketAlreadyOwnedByYou for a bucket the caller owns (200 in us-east-1, S3's legacy),
// and buckets named under the reference's looser rules (made through REST) still usable.
func TestCreateBucketS3(t *testing.T) {
	t.Parallel()
	t.Run("eu-west-1", func(t *testing.T) {
		t.Parallel()
		f := newFixtureWith(t, func(o *Options) { o.Region = "eu-west-1" })
		f.must(t, "PUT", "/s3/mine", nil, nil, 200)
		_, data := f.must(t, "PUT", "/s3/mine", nil, nil, 409)
		wantContains(t, data, "<Code>BucketAlreadyOwnedByYou</Code>", "<Resource>mine</Resource>")
	})
	t.Run("us-east-1", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.must(t, "PUT", "/s3/mine", nil, nil, 200)
		resp, _ := f.must(t, "PUT", "/s3/mine", nil, nil, 200)
		if resp.Header.Get("Location") != "/mine" {
			t.Fatalf("Location %q", resp.Header.Get("Location"))
		}
	})
	t.Run("names", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		for _, bad := range []string{"ab", "Upper", "under_score", "two..dots", "dot.-hyphen", "trail-", "192.168.5.4", "xn--abc", "abc-s3alias"} {
			_, data := f.must(t, "PUT", "/s3/"+bad, nil, nil, 400)
			wantContains(t, data, "<Code>InvalidBucketName</Code>")
		}
		// A bucket the REST API created under the reference's rules.
		if _, err := f.db.Pool().Exec(context.Background(), `insert into storage.buckets (id, name) values ('Legacy_B', 'Legacy_B')`); err != nil {
			t.Fatal(err)
		}
		f.must(t, "HEAD", "/s3/Legacy_B", nil, nil, 200)
		f.must(t, "PUT", "/s3/Legacy_B/k", []byte("x"), nil, 200)
		_, data := f.must(t, "GET", "/s3/Legacy_B?list-type=2", nil, nil, 200)
		wantContains(t, data, "<Key>k</Key>")
		_, data = f.must(t, "GET", "/s3/", nil, nil, 200)
		wantContains(t, data, "<Name>Legacy_B</Name>")
	})
}
