package s3proto

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// emptyHash is the SHA-256 of no bytes, a payload hash the presigned URLs here did not sign.
const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// presignedTarget presigns method target (a path with an optional query) as the SDK's presign
// client does (only host signed, UNSIGNED-PAYLOAD) and returns the URL path and query to send.
func presignedTarget(t *testing.T, method, target, region string) string {
	t.Helper()
	u, err := url.Parse("http://127.0.0.1:5000" + target)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("X-Amz-Expires", "900")
	u.RawQuery = q.Encode()
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, _, err := s3Signer().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
		req, "UNSIGNED-PAYLOAD", "s3", region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(signed, "http://127.0.0.1:5000")
}

// send runs an unsigned-by-us request (a presigned URL, a replay) through the app.
func (f *fixture) send(t *testing.T, method, target string, body []byte, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:5000"+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var data bytes.Buffer
	_, _ = data.ReadFrom(resp.Body)
	return resp.StatusCode, data.Bytes()
}

// TestPresignedUnsignedHeaders: a presigned URL that signs only host cannot be turned into a
// server-side copy (CopyObject, UploadPartCopy) or given metadata by adding x-amz-* headers:
// S3's 403 AccessDenied with the headers listed, and nothing stored.
func TestPresignedUnsignedHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/priv", nil, nil, 200)
	f.must(t, "PUT", "/s3/upl", nil, nil, 200)
	f.must(t, "PUT", "/s3/priv/x.txt", []byte("secret"), nil, 200)
	_, created := f.must(t, "POST", "/s3/upl/mp.bin?uploads", nil, nil, 200)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal(created, &init); err != nil || init.UploadID == "" {
		t.Fatalf("initiate: %v %s", err, created)
	}
	uploadID := init.UploadID

	cases := []struct {
		name, method, target string
		hdr                  map[string]string
		unsigned             string
	}{
		{"put becomes copy", "PUT", "/s3/upl/t.txt", map[string]string{"x-amz-copy-source": "/priv/x.txt"}, "x-amz-copy-source"},
		{"upload part becomes part copy", "PUT", "/s3/upl/mp.bin?partNumber=1&uploadId=" + url.QueryEscape(uploadID),
			map[string]string{"x-amz-copy-source": "/priv/x.txt"}, "x-amz-copy-source"},
		{"metadata and tagging added", "PUT", "/s3/upl/t.txt", map[string]string{"x-amz-meta-a": "1", "x-amz-tagging": "a=b"},
			"x-amz-meta-a, x-amz-tagging"},
		{"session token added", "PUT", "/s3/upl/t.txt", map[string]string{"x-amz-security-token": f.anonKey}, "x-amz-security-token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, data := f.send(t, tc.method, presignedTarget(t, tc.method, tc.target, testRegion), nil, tc.hdr)
			if status != 403 {
				t.Fatalf("status %d: %s", status, data)
			}
			wantContains(t, data, "<Code>AccessDenied</Code>", "<Message>There were headers present in the request which were not signed</Message>",
				"<HeadersNotSigned>"+tc.unsigned+"</HeadersNotSigned>")
		})
	}
	f.must(t, "GET", "/s3/upl/t.txt", nil, nil, 404)
	_, parts := f.must(t, "GET", "/s3/upl/mp.bin?uploadId="+url.QueryEscape(uploadID), nil, nil, 200)
	if strings.Contains(string(parts), "<Part>") {
		t.Fatalf("a refused part copy was stored: %s", parts)
	}

	// The same URLs without the extra headers work, and standard headers may be unsigned.
	target := presignedTarget(t, "PUT", "/s3/upl/t.txt", testRegion)
	if status, data := f.send(t, "PUT", target, []byte("hello"), map[string]string{"Content-Type": "text/plain",
		"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}); status != 200 {
		t.Fatalf("presigned PUT: %d %s", status, data)
	}
	// An unsigned x-amz-content-sha256 other than what was signed fails the signature.
	if status, data := f.send(t, "PUT", target, []byte("x"), map[string]string{"x-amz-content-sha256": emptyHash}); status != 403 ||
		!strings.Contains(string(data), "SignatureDoesNotMatch") {
		t.Fatalf("changed payload hash: %d %s", status, data)
	}
	if _, data := f.must(t, "GET", "/s3/upl/t.txt", nil, nil, 200); string(data) != "hello" {
		t.Fatalf("t.txt = %q", data)
	}
}

// TestEnforceRegionOption: Options.EnforceRegion (S3_PROTOCOL_ENFORCE_REGION) answers a scope
// in another region as S3 does, with the expected <Region>; off, the region is not checked.
func TestEnforceRegionOption(t *testing.T) {
	t.Parallel()
	for _, enforce := range []bool{false, true} {
		f := newFixtureWith(t, func(o *Options) { o.EnforceRegion = enforce })
		req, _ := http.NewRequest("GET", "http://127.0.0.1:5000/s3/", nil)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := s3Signer().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
			req, "UNSIGNED-PAYLOAD", "s3", "eu-west-3", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := f.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		var data bytes.Buffer
		_, _ = data.ReadFrom(resp.Body)
		resp.Body.Close()
		presigned, pdata := f.send(t, "GET", presignedTarget(t, "GET", "/s3/", "eu-west-3"), nil, nil)
		if !enforce {
			if resp.StatusCode != 200 || presigned != 200 {
				t.Fatalf("not enforced: %d %s / %d %s", resp.StatusCode, data.Bytes(), presigned, pdata)
			}
			continue
		}
		if resp.StatusCode != 400 {
			t.Fatalf("enforced: %d %s", resp.StatusCode, data.Bytes())
		}
		wantContains(t, data.Bytes(), "<Code>AuthorizationHeaderMalformed</Code>",
			"<Message>The authorization header is malformed; the region &#39;eu-west-3&#39; is wrong; expecting &#39;us-east-1&#39;</Message>",
			"<Region>us-east-1</Region>")
		if presigned != 400 {
			t.Fatalf("enforced presigned: %d %s", presigned, pdata)
		}
		wantContains(t, pdata, "<Code>AuthorizationQueryParametersError</Code>", "<Region>us-east-1</Region>")
	}
}
