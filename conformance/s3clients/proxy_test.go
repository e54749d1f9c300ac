package s3clients

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stowage/stowage/conformance/harness"
)

// gatewayProxy stands in for the Supabase gateway (Kong): it serves /storage/v1/*, strips
// that prefix, and forwards to the storage server under the server's own host with
// X-Forwarded-Host/-Port/-Proto/-Prefix, as Kong does.
func gatewayProxy(t *testing.T, upstream string) string {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, "/storage/v1")
		r.Out.URL.RawPath = strings.TrimPrefix(r.In.URL.RawPath, "/storage/v1")
		host, port, _ := net.SplitHostPort(r.In.Host)
		r.Out.Header.Set("X-Forwarded-Host", host)
		r.Out.Header.Set("X-Forwarded-Port", port)
		r.Out.Header.Set("X-Forwarded-Proto", "http")
		r.Out.Header.Set("X-Forwarded-Prefix", "/storage/v1")
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/storage/v1/") {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/storage/v1/s3"
}

// TestBehindGateway runs the SDK and the aws cli against https-less
// http://<proxy>/storage/v1/s3, with the server told the prefix the proxy strips
// (S3_PROTOCOL_PREFIX, as the reference). A server not told it refuses the signatures,
// which proves the proxy really changed what arrives.
func TestBehindGateway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := harness.Start(t, harness.Options{Env: map[string]string{"STORAGE_S3_REGION": region, "S3_PROTOCOL_PREFIX": "/storage/v1"}})
	endpoint := gatewayProxy(t, srv.URL)
	e := &env{srv: srv, endpoint: endpoint}
	c := e.client(endpoint)

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gwb")}); err != nil {
		t.Fatal(err)
	}
	key := "dir/a key+(1)!.bin"
	data := randomBytes(11, 300<<10)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("gwb"), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("gwb"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes back, want %d", len(got), len(data))
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("gwb"), Prefix: aws.String("dir/")})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != key {
		t.Fatalf("list: %+v, %v", list, err)
	}

	// A presigned GET fetched by a plain HTTP client through the proxy.
	ps, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("gwb"), Key: aws.String(key)},
		s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(ps.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("presigned GET through the proxy: %d, %d bytes", resp.StatusCode, len(body))
	}

	// A multipart upload of two parts.
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("gwb"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	big := randomBytes(12, 6<<20)
	var parts []types.CompletedPart
	for i, chunk := range [][]byte{big[:5<<20], big[5<<20:]} {
		p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("gwb"), Key: aws.String("mp"), UploadId: mp.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(chunk)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{ETag: p.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("gwb"), Key: aws.String("mp"),
		UploadId: mp.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}

	// The aws cli, up and down.
	dir := t.TempDir()
	src, back := filepath.Join(dir, "src file"), filepath.Join(dir, "back")
	if err := os.WriteFile(src, randomBytes(13, 70<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	environ := awsEnv(t)
	e.aws(t, environ, "s3", "cp", src, "s3://gwb/cli/src file")
	e.aws(t, environ, "s3", "cp", "s3://gwb/cli/src file", back)
	sameFile(t, src, back)

	// The same proxy in front of a server that was not told the prefix.
	plain := harness.Start(t, harness.Options{Env: map[string]string{"STORAGE_S3_REGION": region}})
	_, err = e.client(gatewayProxy(t, plain.URL)).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gwb")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Fatalf("without S3_PROTOCOL_PREFIX: %v, want SignatureDoesNotMatch", err)
	}
}
