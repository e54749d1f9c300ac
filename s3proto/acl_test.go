package s3proto

import (
	"context"
	"strings"
	"testing"
)

// TestCannedACL: x-amz-acl public-read on CreateBucket or PutBucketAcl makes the bucket
// public (the flag the REST API shows) and private makes it private; Get*Acl answer the
// owner's FULL_CONTROL plus AllUsers READ for a public bucket; ACLs that cannot be honoured
// answer 501 NotImplemented and change nothing. Objects have their bucket's ACL.
func TestCannedACL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	public := func(t *testing.T, bucket string) bool {
		t.Helper()
		var p bool
		if err := f.db.Pool().QueryRow(context.Background(), `select public from storage.buckets where id = $1`, bucket).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const allUsers = "<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission>"

	f.must(t, "PUT", "/s3/acl-pub", nil, map[string]string{"x-amz-acl": "public-read"}, 200)
	f.must(t, "PUT", "/s3/acl-priv", nil, map[string]string{"x-amz-acl": "private"}, 200)
	if !public(t, "acl-pub") || public(t, "acl-priv") {
		t.Fatalf("CreateBucket x-amz-acl: public flags %v %v", public(t, "acl-pub"), public(t, "acl-priv"))
	}
	for _, v := range []string{"public-read-write", "authenticated-read"} {
		_, data := f.must(t, "PUT", "/s3/acl-rw", nil, map[string]string{"x-amz-acl": v}, 501)
		wantContains(t, data, "<Code>NotImplemented</Code>")
		f.must(t, "HEAD", "/s3/acl-rw", nil, nil, 404)
	}
	_, data := f.must(t, "PUT", "/s3/acl-rw", nil, map[string]string{"x-amz-grant-read": "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""}, 501)
	wantContains(t, data, "<Code>NotImplemented</Code>")
	_, data = f.must(t, "PUT", "/s3/acl-rw", nil, map[string]string{"x-amz-acl": "nonsense"}, 400)
	wantContains(t, data, "<Code>InvalidArgument</Code>")

	_, data = f.must(t, "GET", "/s3/acl-pub?acl", nil, nil, 200)
	wantContains(t, data, "<AccessControlPolicy", "<Permission>FULL_CONTROL</Permission>", allUsers)
	_, data = f.must(t, "GET", "/s3/acl-priv?acl", nil, nil, 200)
	wantContains(t, data, "<Permission>FULL_CONTROL</Permission>")
	if strings.Contains(string(data), "AllUsers") {
		t.Fatalf("private bucket ACL grants AllUsers: %s", data)
	}

	// PutBucketAcl, canned and as a body.
	f.must(t, "PUT", "/s3/acl-priv?acl", nil, map[string]string{"x-amz-acl": "public-read"}, 200)
	if !public(t, "acl-priv") {
		t.Fatal("PutBucketAcl public-read left the bucket private")
	}
	f.must(t, "PUT", "/s3/acl-priv?acl", nil, map[string]string{"x-amz-acl": "private"}, 200)
	if public(t, "acl-priv") {
		t.Fatal("PutBucketAcl private left the bucket public")
	}
	body := `<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><AccessControlList>` +
		`<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>o</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>` +
		`<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>` +
		`</AccessControlList></AccessControlPolicy>`
	f.must(t, "PUT", "/s3/acl-priv?acl", []byte(body), nil, 200)
	if !public(t, "acl-priv") {
		t.Fatal("PutBucketAcl body with AllUsers READ left the bucket private")
	}
	other := strings.Replace(body, "<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ",
		"<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>WRITE", 1)
	_, data = f.must(t, "PUT", "/s3/acl-priv?acl", []byte(other), nil, 501)
	wantContains(t, data, "<Code>NotImplemented</Code>")
	f.must(t, "PUT", "/s3/acl-priv?acl", nil, map[string]string{"x-amz-acl": "authenticated-read"}, 501)
	if !public(t, "acl-priv") {
		t.Fatal("a refused PutBucketAcl changed the bucket")
	}
	f.must(t, "PUT", "/s3/acl-priv?acl", nil, map[string]string{"x-amz-acl": "private"}, 200)

	// Objects: x-amz-acl accepted when it can be honoured, and the object ACL is the bucket's.
	f.must(t, "PUT", "/s3/acl-pub/o", []byte("x"), map[string]string{"x-amz-acl": "public-read"}, 200)
	f.must(t, "PUT", "/s3/acl-priv/o", []byte("x"), map[string]string{"x-amz-acl": "private"}, 200)
	f.must(t, "PUT", "/s3/acl-priv/o2", []byte("x"), map[string]string{"x-amz-acl": "bucket-owner-full-control"}, 200)
	_, data = f.must(t, "PUT", "/s3/acl-priv/o3", []byte("x"), map[string]string{"x-amz-acl": "public-read"}, 501)
	wantContains(t, data, "<Code>NotImplemented</Code>")
	f.must(t, "HEAD", "/s3/acl-priv/o3", nil, nil, 404)
	f.must(t, "PUT", "/s3/acl-priv/o3", nil, map[string]string{"x-amz-acl": "public-read", "x-amz-copy-source": "/acl-priv/o"}, 501)
	f.must(t, "HEAD", "/s3/acl-priv/o3", nil, nil, 404)
	f.must(t, "POST", "/s3/acl-priv/o3?uploads", nil, map[string]string{"x-amz-acl": "public-read"}, 501)
	f.must(t, "PUT", "/s3/acl-pub/o3", nil, map[string]string{"x-amz-acl": "public-read", "x-amz-copy-source": "/acl-priv/o"}, 200)

	_, data = f.must(t, "GET", "/s3/acl-pub/o?acl", nil, nil, 200)
	wantContains(t, data, "<Permission>FULL_CONTROL</Permission>", allUsers)
	_, data = f.must(t, "GET", "/s3/acl-priv/o?acl", nil, nil, 200)
	if strings.Contains(string(data), "AllUsers") {
		t.Fatalf("object of a private bucket grants AllUsers: %s", data)
	}
	f.must(t, "PUT", "/s3/acl-pub/o?acl", nil, map[string]string{"x-amz-acl": "public-read"}, 200)
	f.must(t, "PUT", "/s3/acl-priv/o?acl", nil, map[string]string{"x-amz-acl": "private"}, 200)
	f.must(t, "PUT", "/s3/acl-priv/o?acl", nil, map[string]string{"x-amz-acl": "public-read"}, 501)
	f.must(t, "PUT", "/s3/acl-priv/o?acl", []byte(body), nil, 501)
	f.must(t, "PUT", "/s3/acl-pub/o?acl", []byte(body), nil, 200)
	f.must(t, "PUT", "/s3/acl-priv/missing?acl", nil, map[string]string{"x-amz-acl": "private"}, 404)
	// The object is untouched by ACL requests.
	_, data = f.must(t, "GET", "/s3/acl-pub/o", nil, nil, 200)
	if string(data) != "x" {
		t.Fatalf("object became %q", data)
	}
}
