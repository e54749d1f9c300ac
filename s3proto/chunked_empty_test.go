package s3proto

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// emptyChunkedPut is a PUT of an empty aws-chunked body: the seed signature from the SDK's
// signer, then only the final 0-size chunk, signed with sigSecret (the right secret or not).
func emptyChunkedPut(t *testing.T, target string, sigSecret string) *http.Request {
	t.Helper()
	const streaming = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	now := time.Now().UTC()
	// The final chunk line has a fixed length, so the body length is known before signing.
	bodyLen := len("0;chunk-signature=") + 64 + len("\r\n\r\n")
	req, err := http.NewRequest("PUT", "http://127.0.0.1:5000"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(bodyLen)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", "0")
	req.Header.Set("X-Amz-Content-Sha256", streaming)
	if err := s3Signer().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
		req, streaming, "s3", testRegion, now); err != nil {
		t.Fatal(err)
	}
	auth := req.Header.Get("Authorization")
	seed := auth[strings.LastIndex(auth, "Signature=")+len("Signature="):]
	date := now.Format("20060102")
	scope := date + "/" + testRegion + "/s3/aws4_request"
	key := hmacSHA256([]byte("AWS4"+sigSecret), date)
	for _, s := range []string{testRegion, "s3", "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	emptyHash := sha256.Sum256(nil)
	sts := strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", now.Format("20060102T150405Z"), scope, seed,
		hex.EncodeToString(emptyHash[:]), hex.EncodeToString(emptyHash[:])}, "\n")
	body := "0;chunk-signature=" + hex.EncodeToString(hmacSHA256(key, sts)) + "\r\n\r\n"
	if len(body) != bodyLen {
		t.Fatalf("body length %d, planned %d", len(body), bodyLen)
	}
	req.Body = io.NopCloser(strings.NewReader(body))
	return req
}

// An empty aws-chunked PutObject still carries a signed final chunk: a wrong chunk
// signature is refused and stores nothing; the right one stores an empty object.
func TestEmptyChunkedPutChecksFinalChunk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/ecb", nil, nil, 200)
	for _, tc := range []struct {
		name, secret string
		want         int
	}{{"forged final chunk", "not-the-secret", 403}, {"signed final chunk", testSecret, 200}} {
		resp, err := f.app.Test(emptyChunkedPut(t, "/s3/ecb/empty", tc.secret), -1)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("%s: %d, want %d: %s", tc.name, resp.StatusCode, tc.want, data)
		}
		head, _ := f.do(t, serviceCreds, "HEAD", "/s3/ecb/empty", nil, nil)
		if stored := head.StatusCode == 200; stored != (tc.want == 200) {
			t.Fatalf("%s: HEAD after the PUT answered %d", tc.name, head.StatusCode)
		}
		if tc.want == 200 && head.ContentLength != 0 {
			t.Fatalf("stored %d bytes", head.ContentLength)
		}
	}
}
