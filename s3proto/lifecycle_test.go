package s3proto

import (
	"strings"
	"testing"
)

// TestLifecycleOverS3: Put/Get/DeleteBucketLifecycleConfiguration round trip, transitions
// refused, and x-amz-expiration on PUT and HEAD of an object a rule will expire.
func TestLifecycleOverS3(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/lcbkt", nil, nil, 200)
	f.must(t, "GET", "/s3/lcbkt?lifecycle", nil, nil, 404)
	doc := `<LifecycleConfiguration><Rule><ID>logs rule</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status>` +
		`<Expiration><Days>3</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>` +
		`<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>` +
		`<Rule><ID>tmp</ID><Filter><And><Prefix>t/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`
	f.must(t, "PUT", "/s3/lcbkt?lifecycle", []byte(doc), nil, 200)
	_, data := f.must(t, "GET", "/s3/lcbkt?lifecycle", nil, nil, 200)
	wantContains(t, data, "<ID>logs rule</ID>", "<Prefix>logs/</Prefix>", "<Days>3</Days>", "<NoncurrentDays>2</NoncurrentDays>",
		"<NewerNoncurrentVersions>1</NewerNoncurrentVersions>", "<DaysAfterInitiation>1</DaysAfterInitiation>",
		"<And><Prefix>t/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And>", "<Status>Disabled</Status>")
	resp, _ := f.must(t, "PUT", "/s3/lcbkt/logs/a", []byte("x"), nil, 200)
	if x := resp.Header.Get("x-amz-expiration"); !strings.HasPrefix(x, `expiry-date="`) || !strings.HasSuffix(x, `", rule-id="logs rule"`) {
		t.Fatalf("x-amz-expiration on PUT: %q", x)
	}
	resp, _ = f.must(t, "HEAD", "/s3/lcbkt/logs/a", nil, nil, 200)
	if resp.Header.Get("x-amz-expiration") == "" {
		t.Fatal("no x-amz-expiration on HEAD")
	}
	resp, _ = f.must(t, "PUT", "/s3/lcbkt/other", []byte("x"), nil, 200)
	if resp.Header.Get("x-amz-expiration") != "" {
		t.Fatal("x-amz-expiration for an object no rule matches")
	}
	transition := `<LifecycleConfiguration><Rule><ID>x</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition></Rule></LifecycleConfiguration>`
	f.must(t, "PUT", "/s3/lcbkt?lifecycle", []byte(transition), nil, 501)
	f.must(t, "PUT", "/s3/lcbkt?lifecycle", []byte(`<LifecycleConfiguration><Rule><Status>Enabled</Status></Rule></LifecycleConfiguration>`), nil, 400)
	f.must(t, "DELETE", "/s3/lcbkt?lifecycle", nil, nil, 204)
	f.must(t, "GET", "/s3/lcbkt?lifecycle", nil, nil, 404)
}
