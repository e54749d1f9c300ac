package s3proto

import (
	"context"
	"encoding/xml"
	"net/url"
	"strings"
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
		// The legacy 200 is for a create in us-east-1: one that asks for another region
		// finds the bucket it already owns (minio-go's testMakeBucketError).
		conf := func(region string) []byte {
			return []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>` + region + `</LocationConstraint></CreateBucketConfiguration>`)
		}
		f.must(t, "PUT", "/s3/mine", conf("us-east-1"), nil, 200)
		_, data := f.must(t, "PUT", "/s3/mine", conf("eu-west-1"), nil, 409)
		wantContains(t, data, "<Code>BucketAlreadyOwnedByYou</Code>")
		f.must(t, "PUT", "/s3/elsewhere", conf("eu-west-1"), nil, 200)
		f.must(t, "PUT", "/s3/elsewhere", conf("eu-west-1"), nil, 409)
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
		f.must(t, "PUT", "/s3/Legacy_B", nil, nil, 200) // exists and is yours (us-east-1)
		f.must(t, "PUT", "/s3/Legacy_B/k", []byte("x"), nil, 200)
		_, data := f.must(t, "GET", "/s3/Legacy_B?list-type=2", nil, nil, 200)
		wantContains(t, data, "<Key>k</Key>")
		_, data = f.must(t, "GET", "/s3/", nil, nil, 200)
		wantContains(t, data, "<Name>Legacy_B</Name>")
	})
}

// TestListBucketsPaging: ListBuckets honours max-buckets, continuation-token and prefix and
// answers ContinuationToken and Prefix as AWS does.
func TestListBucketsPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, b := range []string{"lb-a", "lb-b", "lb-c", "other"} {
		f.must(t, "PUT", "/s3/"+b, nil, nil, 200)
	}
	type page struct {
		Names []string `xml:"Buckets>Bucket>Name"`
		Token string   `xml:"ContinuationToken"`
		Pre   string   `xml:"Prefix"`
	}
	get := func(t *testing.T, query string) page {
		t.Helper()
		_, data := f.must(t, "GET", "/s3/?"+query, nil, nil, 200)
		var p page
		if err := xml.Unmarshal(data, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var all []string
	p := get(t, "max-buckets=3")
	for {
		all = append(all, p.Names...)
		if p.Token == "" {
			break
		}
		if len(p.Names) != 3 {
			t.Fatalf("a truncated page of %d buckets, want 3", len(p.Names))
		}
		p = get(t, "max-buckets=3&continuation-token="+url.QueryEscape(p.Token))
	}
	if got := strings.Join(all, ","); got != "lb-a,lb-b,lb-c,other" {
		t.Fatalf("paged listing %s", got)
	}
	p = get(t, "prefix=lb-&max-buckets=2")
	if strings.Join(p.Names, ",") != "lb-a,lb-b" || p.Token == "" || p.Pre != "lb-" {
		t.Fatalf("prefix page %+v", p)
	}
	p = get(t, "prefix=lb-&max-buckets=2&continuation-token="+url.QueryEscape(p.Token))
	if strings.Join(p.Names, ",") != "lb-c" || p.Token != "" {
		t.Fatalf("last prefix page %+v", p)
	}
	if p = get(t, "continuation-token="); len(p.Names) != 4 {
		t.Fatalf("an empty token must list from the start: %+v", p)
	}
	for _, q := range []string{"max-buckets=0", "max-buckets=10001", "max-buckets=x", "continuation-token=!!"} {
		_, data := f.must(t, "GET", "/s3/?"+q, nil, nil, 400)
		wantContains(t, data, "<Code>InvalidArgument</Code>")
	}
}
