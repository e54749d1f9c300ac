package s3proto

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// doSigned sends body signed by the service credentials with the given x-amz-content-sha256
// (a hex hash, possibly of other bytes, or UNSIGNED-PAYLOAD). chunked sends the body with
// Transfer-Encoding: chunked, so no Content-Length announces its size.
func (f *fixture) doSigned(t *testing.T, method, target string, body []byte, payload string, chunked bool) (*http.Response, []byte) {
	t.Helper()
	return f.doSignedWith(t, method, target, body, payload, chunked, nil)
}

// doSignedWith is doSigned with extra headers (signed, as the SDK signs x-amz-* headers).
func (f *fixture) doSignedWith(t *testing.T, method, target string, body []byte, payload string, chunked bool, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:5000"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	if chunked {
		req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if err := s3Signer().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
		req, payload, "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, data
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestSmallBodyLimit: the bodies read whole (DeleteObjects, PutObjectTagging, CreateBucket,
// CreateMultipartUpload) are capped by Options.XMLLimit, whether a Content-Length announces
// the size or the body arrives without one.
func TestSmallBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, func(o *Options) { o.XMLLimit = 256 })
	f.must(t, "PUT", "/s3/sbb", nil, nil, 200)
	f.must(t, "PUT", "/s3/sbb/k", []byte("k"), nil, 200)
	var del strings.Builder
	del.WriteString("<Delete>")
	for del.Len() <= 256 {
		del.WriteString("<Object><Key>k</Key></Object>")
	}
	del.WriteString("</Delete>")
	tags := "<Tagging><TagSet><Tag><Key>k</Key><Value>" + strings.Repeat("v", 256) + "</Value></Tag></TagSet></Tagging>"
	cases := []struct {
		name, method, target, body string
	}{
		{"delete objects", "POST", "/s3/sbb?delete", del.String()},
		{"put tagging", "PUT", "/s3/sbb/k?tagging", tags},
		{"create bucket", "PUT", "/s3/sb2", "<CreateBucketConfiguration>" + strings.Repeat(" ", 256) + "</CreateBucketConfiguration>"},
		{"create multipart upload", "POST", "/s3/sbb/mpu?uploads", strings.Repeat("{}", 200)},
	}
	for _, tc := range cases {
		for _, chunked := range []bool{false, true} {
			name := tc.name
			if chunked {
				name += " without content-length"
			}
			t.Run(name, func(t *testing.T) {
				// A DeleteObjects body without Content-MD5 would be refused for that first.
				sum := md5.Sum([]byte(tc.body))
				hdr := map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}
				resp, data := f.doSignedWith(t, tc.method, tc.target, []byte(tc.body), "UNSIGNED-PAYLOAD", chunked, hdr)
				if resp.StatusCode != 400 {
					t.Fatalf("%d %s", resp.StatusCode, data)
				}
				wantContains(t, data, "<Code>MaxMessageLengthExceeded</Code>")
			})
		}
	}
	_, data := f.must(t, "GET", "/s3/sbb?uploads", nil, nil, 200)
	if strings.Contains(string(data), "<Upload>") {
		t.Fatalf("an oversized CreateMultipartUpload started an upload: %s", data)
	}
	f.must(t, "HEAD", "/s3/sb2", nil, nil, 404)
}

// TestCreateMultipartUploadChecksBody: the (ignored) body of a CreateMultipartUpload is still
// checked against its signed x-amz-content-sha256; a mismatch starts no upload.
func TestCreateMultipartUploadChecksBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/cbb", nil, nil, 200)
	resp, data := f.doSigned(t, "POST", "/s3/cbb/k?uploads", []byte("{}"), hexSHA256([]byte("other")), false)
	if resp.StatusCode != 400 {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	wantContains(t, data, "<Code>XAmzContentSHA256Mismatch</Code>")
	_, data = f.must(t, "GET", "/s3/cbb?uploads", nil, nil, 200)
	if strings.Contains(string(data), "<Upload>") {
		t.Fatalf("a body that failed its signature started an upload: %s", data)
	}
	// Some SDKs send "{}": accepted when it matches its signature.
	_, data = f.must(t, "POST", "/s3/cbb/k?uploads", []byte("{}"), map[string]string{"Content-Type": "application/json"}, 200)
	wantContains(t, data, "<UploadId>")
}
