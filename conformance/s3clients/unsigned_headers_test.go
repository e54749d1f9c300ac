package s3clients

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/conformance/harness"
)

// s3ErrorXML is the part of S3's <Error> document these tests read.
type s3ErrorXML struct {
	Code             string `xml:"Code"`
	Message          string `xml:"Message"`
	HeadersNotSigned string `xml:"HeadersNotSigned"`
	Region           string `xml:"Region"`
}

// send sends req with net/http and returns the status and the error document (if any).
func send(t *testing.T, req *http.Request) (int, s3ErrorXML) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e s3ErrorXML
	if resp.StatusCode >= 300 {
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s %s: %d with a body that is not an S3 error: %q", req.Method, req.URL.Path, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, e
}

// presignedRequest builds the request a presigned URL's holder sends: the URL, the headers
// the signer said to send, and body.
func presignedRequest(t *testing.T, p *v4.PresignedHTTPRequest, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(p.Method, p.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range p.SignedHeader {
		if !strings.EqualFold(name, "host") {
			req.Header[name] = values
		}
	}
	return req
}

// wantUnsigned fails unless the answer is S3's 403 for unsigned x-amz-* headers naming header.
func wantUnsigned(t *testing.T, status int, e s3ErrorXML, header string) {
	t.Helper()
	if status != 403 || e.Code != "AccessDenied" || e.Message != "There were headers present in the request which were not signed" ||
		!strings.Contains(e.HeadersNotSigned, header) {
		t.Fatalf("got %d %+v, want 403 AccessDenied with %s in HeadersNotSigned", status, e, header)
	}
}

// recorder is an HTTP client that keeps a copy of the last request the SDK sent, body
// included, so that a test can replay it as an attacker who captured it would.
type recorder struct {
	req  *http.Request
	body []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.req, r.body = req.Clone(context.Background()), body
	return http.DefaultClient.Do(req)
}

// replay sends the recorded request again with extra headers added.
func (r *recorder) replay(t *testing.T, extra ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(r.req.Method, r.req.URL.String(), bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.req.Header.Clone()
	req.ContentLength = int64(len(r.body))
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	return req
}

// TestUnsignedHeaders: x-amz-* headers that a signature does not cover are refused (403
// AccessDenied "There were headers present in the request which were not signed"), so that
// a presigned URL or a captured request cannot be steered into another operation. The URLs
// and requests are made by aws-sdk-go-v2; they work unchanged.
func TestUnsignedHeaders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := harness.Start(t, harness.Options{Env: map[string]string{"STORAGE_S3_REGION": region}})
	c := (&env{}).client(srv.URL + "/s3")
	presigner := s3.NewPresignClient(c)
	for _, b := range []string{"priv", "upl"} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	secret := []byte("the signer may read this, the URL holder may not")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("priv"), Key: aws.String("x.txt"), Body: bytes.NewReader(secret)}); err != nil {
		t.Fatal(err)
	}
	// content reads bucket/key back, nil when it does not exist.
	content := func(t *testing.T, bucket, key string) []byte {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if apiCode(err) == "NoSuchKey" {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return readAll(t, out.Body)
	}

	t.Run("presigned PutObject with x-amz-copy-source", func(t *testing.T) {
		p, err := presigner.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("upl"), Key: aws.String("target.txt")},
			s3.WithPresignExpires(15*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		attack := func() *http.Request {
			req := presignedRequest(t, p, nil)
			req.Header.Set("x-amz-copy-source", "/priv/x.txt")
			return req
		}
		status, e := send(t, attack())
		wantUnsigned(t, status, e, "x-amz-copy-source")
		if got := content(t, "upl", "target.txt"); got != nil {
			t.Fatalf("the refused request stored %q", got)
		}
		// The URL itself works: its holder uploads what they like to the presigned key.
		if status, e := send(t, presignedRequest(t, p, []byte("hello"))); status != 200 {
			t.Fatalf("presigned PUT: %d %+v", status, e)
		}
		status, e = send(t, attack())
		wantUnsigned(t, status, e, "x-amz-copy-source")
		if got := content(t, "upl", "target.txt"); string(got) != "hello" {
			t.Fatalf("target.txt = %q after a refused copy, want hello", got)
		}
	})

	t.Run("presigned UploadPart with x-amz-copy-source", func(t *testing.T) {
		mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("upl"), Key: aws.String("mp.bin")})
		if err != nil {
			t.Fatal(err)
		}
		defer c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("upl"), Key: aws.String("mp.bin"), UploadId: mp.UploadId})
		p, err := presigner.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("upl"), Key: aws.String("mp.bin"),
			UploadId: mp.UploadId, PartNumber: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		req := presignedRequest(t, p, nil)
		req.Header.Set("x-amz-copy-source", "/priv/x.txt")
		status, e := send(t, req)
		wantUnsigned(t, status, e, "x-amz-copy-source")
		parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("upl"), Key: aws.String("mp.bin"), UploadId: mp.UploadId})
		if err != nil {
			t.Fatal(err)
		}
		if len(parts.Parts) != 0 {
			t.Fatalf("the refused UploadPartCopy stored %d parts", len(parts.Parts))
		}
		if status, e := send(t, presignedRequest(t, p, []byte("part one"))); status != 200 {
			t.Fatalf("presigned UploadPart: %d %+v", status, e)
		}
	})

	t.Run("replayed PutObject with more headers", func(t *testing.T) {
		rec := &recorder{}
		rc := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(srv.URL + "/s3"), UsePathStyle: true, HTTPClient: rec,
			Credentials: credentials.NewStaticCredentialsProvider(harness.S3AccessKeyID, harness.S3Secret, "")})
		if _, err := rc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("upl"), Key: aws.String("replay.txt"),
			Body: bytes.NewReader([]byte("original"))}); err != nil {
			t.Fatal(err)
		}
		for _, extra := range [][]string{{"x-amz-meta-foo", "bar"}, {"x-amz-tagging", "owner=mallory"},
			{"x-amz-copy-source", "/priv/x.txt"}} {
			status, e := send(t, rec.replay(t, extra...))
			wantUnsigned(t, status, e, extra[0])
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("upl"), Key: aws.String("replay.txt")})
		if err != nil {
			t.Fatal(err)
		}
		if len(head.Metadata) != 0 {
			t.Fatalf("metadata = %v after refused replays", head.Metadata)
		}
		tags, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("upl"), Key: aws.String("replay.txt")})
		if err != nil || len(tags.TagSet) != 0 {
			t.Fatalf("tags = %v, %v after refused replays", tags, err)
		}
		if got := content(t, "upl", "replay.txt"); string(got) != "original" {
			t.Fatalf("replay.txt = %q", got)
		}
		// The same request replayed unchanged is still valid (within the clock skew, as at
		// S3): what is refused above is the added header.
		if status, e := send(t, rec.replay(t)); status != 200 {
			t.Fatalf("unchanged replay: %d %+v", status, e)
		}
	})

	t.Run("tampered presigned signature", func(t *testing.T) {
		p, err := presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("priv"), Key: aws.String("x.txt")})
		if err != nil {
			t.Fatal(err)
		}
		if status, e := send(t, presignedRequest(t, p, nil)); status != 200 {
			t.Fatalf("presigned GET: %d %+v", status, e)
		}
		u, err := url.Parse(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		sig := u.Query().Get("X-Amz-Signature")
		for name, tampered := range map[string]string{"63 digits": sig[:63], "65 digits": sig + "0", "not hex": sig[:63] + "x"} {
			q := u.Query()
			q.Set("X-Amz-Signature", tampered)
			v := *u
			v.RawQuery = q.Encode()
			req, _ := http.NewRequest("GET", v.String(), nil)
			if status, e := send(t, req); status != 403 || e.Code != "SignatureDoesNotMatch" {
				t.Fatalf("%s: %d %+v, want 403 SignatureDoesNotMatch", name, status, e)
			}
		}
	})

	t.Run("tampered header signature", func(t *testing.T) {
		rec := &recorder{}
		rc := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(srv.URL + "/s3"), UsePathStyle: true, HTTPClient: rec,
			Credentials: credentials.NewStaticCredentialsProvider(harness.S3AccessKeyID, harness.S3Secret, "")})
		out, err := rc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("priv"), Key: aws.String("x.txt")})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, out.Body)
		a := rec.req.Header.Get("Authorization")
		for name, tampered := range map[string]string{"63 digits": a[:len(a)-1], "65 digits": a + "0", "not hex": a[:len(a)-1] + "x"} {
			status, e := send(t, rec.replay(t, "Authorization", tampered))
			if status != 403 || e.Code != "SignatureDoesNotMatch" {
				t.Fatalf("%s: %d %+v, want 403 SignatureDoesNotMatch", name, status, e)
			}
		}
	})
}

// TestEnforceRegion: with S3_PROTOCOL_ENFORCE_REGION=true a signature scoped to another
// region is refused as AWS refuses it (400 AuthorizationHeaderMalformed, or
// AuthorizationQueryParametersError for a presigned URL, with the expected <Region>); without
// it (the default) any region is accepted.
func TestEnforceRegion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := func(endpoint, r string) *s3.Client {
		return s3.New(s3.Options{Region: r, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(harness.S3AccessKeyID, harness.S3Secret, "")})
	}
	for _, enforce := range []bool{true, false} {
		env := map[string]string{"STORAGE_S3_REGION": region}
		if enforce {
			env["S3_PROTOCOL_ENFORCE_REGION"] = "true"
		}
		srv := harness.Start(t, harness.Options{Env: env})
		endpoint := srv.URL + "/s3"
		if _, err := client(endpoint, region).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("reg")}); err != nil {
			t.Fatalf("enforce=%v, right region: %v", enforce, err)
		}
		wrong := client(endpoint, "eu-west-3")
		_, err := wrong.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("reg")})
		p, perr := s3.NewPresignClient(wrong).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reg"), Key: aws.String("k")})
		if perr != nil {
			t.Fatal(perr)
		}
		status, e := send(t, presignedRequest(t, p, nil))
		if !enforce {
			if err != nil {
				t.Fatalf("not enforced, other region: %v", err)
			}
			if status != 404 || e.Code != "NoSuchKey" {
				t.Fatalf("not enforced, presigned other region: %d %+v", status, e)
			}
			continue
		}
		if apiCode(err) != "AuthorizationHeaderMalformed" ||
			!strings.Contains(err.Error(), "the region 'eu-west-3' is wrong; expecting 'us-east-1'") {
			t.Fatalf("enforced, header auth in another region: %v", err)
		}
		if status != 400 || e.Code != "AuthorizationQueryParametersError" || e.Region != region ||
			e.Message != "Error parsing the X-Amz-Credential parameter; the region 'eu-west-3' is wrong; expecting 'us-east-1'" {
			t.Fatalf("enforced, presigned in another region: %d %+v", status, e)
		}
	}
}
