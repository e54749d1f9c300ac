package s3proto

import (
	"net/url"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		method     string
		bucket     string
		hasKey     bool
		query      string
		copySource bool
		want       op
	}{
		{"list buckets", "GET", "", false, "", false, opListBuckets},
		{"put on service", "PUT", "", false, "", false, opUnknown},
		{"create bucket", "PUT", "b", false, "", false, opCreateBucket},
		{"create bucket ignores x-id", "PUT", "b", false, "x-id=CreateBucket", false, opCreateBucket},
		{"put bucket policy not implemented", "PUT", "b", false, "policy", false, opNotImplemented},
		{"put bucket versioning", "PUT", "b", false, "versioning", false, opPutBucketVersioning},
		{"delete bucket", "DELETE", "b", false, "", false, opDeleteBucket},
		{"delete bucket cors not implemented", "DELETE", "b", false, "cors", false, opNotImplemented},
		{"head bucket", "HEAD", "b", false, "", false, opHeadBucket},
		{"list uploads", "GET", "b", false, "uploads", false, opListMultipartUploads},
		{"location", "GET", "b", false, "location", false, opGetBucketLocation},
		{"versioning", "GET", "b", false, "versioning", false, opGetBucketVersioning},
		{"versions", "GET", "b", false, "versions&prefix=a", false, opListObjectVersions},
		{"bucket acl", "GET", "b", false, "acl", false, opGetBucketACL},
		{"put bucket acl", "PUT", "b", false, "acl", false, opPutBucketACL},
		{"put object acl", "PUT", "b", true, "acl", false, opPutObjectACL},
		{"get bucket tagging", "GET", "b", false, "tagging", false, opGetBucketTagging},
		{"put bucket tagging", "PUT", "b", false, "tagging", false, opPutBucketTagging},
		{"get bucket notification", "GET", "b", false, "notification", false, opGetBucketNotification},
		{"put bucket notification", "PUT", "b", false, "notification", false, opPutBucketNotification},
		{"delete bucket tagging", "DELETE", "b", false, "tagging", false, opDeleteBucketTagging},
		{"bucket cors", "GET", "b", false, "cors", false, opGetBucketProbe},
		{"bucket object-lock", "GET", "b", false, "object-lock", false, opGetBucketProbe},
		{"bucket encryption", "GET", "b", false, "encryption", false, opGetBucketProbe},
		{"bucket delete via GET", "GET", "b", false, "delete", false, opNotImplemented},
		{"list v2", "GET", "b", false, "list-type=2&prefix=a", false, opListObjectsV2},
		{"list bad type", "GET", "b", false, "list-type=3", false, opUnknown},
		{"list v1", "GET", "b", false, "prefix=a&marker=b", false, opListObjects},
		{"delete objects", "POST", "b", false, "delete", false, opDeleteObjects},
		{"post without form", "POST", "b", false, "", false, opNotImplemented},
		{"upload part copy", "PUT", "b", true, "partNumber=1&uploadId=u", true, opUploadPartCopy},
		{"upload part", "PUT", "b", true, "partNumber=1&uploadId=u", false, opUploadPart},
		{"put tagging", "PUT", "b", true, "tagging", false, opPutObjectTagging},
		{"put retention not implemented", "PUT", "b", true, "retention", true, opNotImplemented},
		{"copy", "PUT", "b", true, "", true, opCopyObject},
		{"put", "PUT", "b", true, "x-id=PutObject", false, opPutObject},
		{"complete", "POST", "b", true, "uploadId=u", false, opCompleteMultipartUpload},
		{"create upload", "POST", "b", true, "uploads", false, opCreateMultipartUpload},
		{"post object other", "POST", "b", true, "restore", false, opNotImplemented},
		{"abort", "DELETE", "b", true, "uploadId=u", false, opAbortMultipartUpload},
		{"delete tagging", "DELETE", "b", true, "tagging", false, opDeleteObjectTagging},
		{"delete object", "DELETE", "b", true, "", false, opDeleteObject},
		{"head object", "HEAD", "b", true, "partNumber=1", false, opHeadObject},
		{"list parts", "GET", "b", true, "uploadId=u", false, opListParts},
		{"get tagging", "GET", "b", true, "tagging", false, opGetObjectTagging},
		{"get attributes", "GET", "b", true, "attributes", false, opGetObjectAttributes},
		{"get object acl", "GET", "b", true, "acl", false, opGetObjectACL},
		{"get torrent not implemented", "GET", "b", true, "torrent", false, opNotImplemented},
		{"get object", "GET", "b", true, "response-content-type=x", false, opGetObject},
		{"get object part", "GET", "b", true, "partNumber=1", false, opGetObject},
		{"patch object", "PATCH", "b", true, "", false, opUnknown},
		{"options bucket", "OPTIONS", "b", false, "", false, opUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := classify(tc.method, tc.bucket, tc.hasKey, q, header{copySource: tc.copySource}); got != tc.want {
				t.Fatalf("classify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClassifyPostForm(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, contentType string
		hasKey                    bool
		want                      op
	}{
		{"form upload", "POST", "multipart/form-data; boundary=x", false, opPostObject},
		{"form upload upper case", "POST", "Multipart/Form-Data;boundary=x", false, opPostObject},
		{"form on a key", "POST", "multipart/form-data; boundary=x", true, opNotImplemented},
		{"form as PUT", "PUT", "multipart/form-data; boundary=x", false, opCreateBucket},
		{"other multipart", "POST", "multipart/mixed; boundary=x", false, opNotImplemented},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := classify(tc.method, "b", tc.hasKey, url.Values{}, header{formData: isFormData(tc.contentType)}); got != tc.want {
				t.Fatalf("classify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEveryOpHasAHandlerOrIsUnknown(t *testing.T) {
	t.Parallel()
	h := &Handler{}
	ops := h.operations()
	for o := opUnknown + 1; o < numOps; o++ {
		if ops[o] == nil {
			t.Errorf("op %v has no handler", o)
		}
		if o.String() == "Unknown" {
			t.Errorf("op %d has no name", o)
		}
	}
}

func TestSplitPath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw, bucket, key string
		hasKey, wantErr        bool
	}{
		{"service", "/", "", "", false, false},
		{"empty", "", "", "", false, false},
		{"bucket", "/b", "b", "", false, false},
		{"bucket slash", "/b/", "b", "", false, false},
		{"key", "/b/k", "b", "k", true, false},
		{"nested key", "/b/a/b/c.txt", "b", "a/b/c.txt", true, false},
		{"encoded key", "/b/a%20b%2Bc", "b", "a b+c", true, false},
		{"plus stays plus", "/b/a+b", "b", "a+b", true, false},
		{"trailing slash key", "/b/dir/", "b", "dir/", true, false},
		{"encoded slash", "/b/a%2Fb", "b", "a/b", true, false},
		{"bad escape", "/b/%zz", "", "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, k, has, err := splitPath(tc.raw)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (b != tc.bucket || k != tc.key || has != tc.hasKey) {
				t.Fatalf("got %q %q %v", b, k, has)
			}
		})
	}
}

func TestParseCopySource(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, bucket, key string
		wantErr               bool
	}{
		{"plain", "b/k", "b", "k", false},
		{"leading slash", "/b/dir/k", "b", "dir/k", false},
		{"encoded", "b/a%20b%2Bc%C3%A9", "b", "a b+cé", false},
		{"null version", "b/k?versionId=null", "b", "k", false},
		{"other version", "b/k?versionId=abc", "", "", true},
		{"uuid version", "b/k?versionId=0b9e6c4e-8f3a-4d7e-9a43-1f0a6a1f2b3c", "b", "k", false},
		{"upper-case uuid", "b/k?versionId=0B9E6C4E-8F3A-4D7E-9A43-1F0A6A1F2B3C", "", "", true},
		{"no key", "b", "", "", true},
		{"empty key", "b/", "", "", true},
		{"bad escape", "b/%zz", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, k, _, err := parseCopySource(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (b != tc.bucket || k != tc.key) {
				t.Fatalf("got %q %q", b, k)
			}
		})
	}
}

func TestS3URLEncode(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"plain", "a/b-c_d.e~f", "a/b-c_d.e~f"},
		{"space and plus", "a b+c", "a%20b%2Bc"},
		{"utf8", "é", "%C3%A9"},
		{"percent", "100%", "100%25"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := s3URLEncode(tc.in); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
