package s3clients

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// testPostObject uploads through aws-sdk-go-v2's presigned POST (the browser form flow):
// the returned fields and the file go out as multipart/form-data with net/http, and the
// object reads back byte-equal.
func testPostObject(t *testing.T, e *env) {
	ctx := context.Background()
	for _, endpoint := range e.endpoints() {
		t.Run(endpoint.name, func(t *testing.T) {
			c := e.client(endpoint.url)
			bucket := "post-" + strings.ReplaceAll(strings.ReplaceAll(endpoint.name, " ", "-"), "/", "")
			if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}
			data := randomBytes(7, 100_000)
			cases := []struct {
				name, key string
				maxLen    int
				status    int
				stored    bool
			}{
				{"upload", "form/upload.bin", len(data), 204, true},
				{"over content-length-range", "form/too-big.bin", len(data) - 1, 413, false},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					req, err := s3.NewPresignClient(c).PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(tc.key)},
						func(o *s3.PresignPostOptions) {
							o.Conditions = []any{[]any{"content-length-range", 1, tc.maxLen}, map[string]string{"success_action_status": "204"}}
						})
					if err != nil {
						t.Fatal(err)
					}
					resp := postForm(t, req.URL, req.Values, map[string]string{"success_action_status": "204"}, data)
					if resp.StatusCode != tc.status {
						t.Fatalf("POST %s: %d", req.URL, resp.StatusCode)
					}
					out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(tc.key)})
					switch {
					case !tc.stored && apiCode(err) != "NoSuchKey":
						t.Fatalf("rejected upload stored: %v", err)
					case tc.stored && err != nil:
						t.Fatal(err)
					case tc.stored && !bytes.Equal(readAll(t, out.Body), data):
						t.Fatal("bytes differ")
					}
				})
			}
		})
	}
}

// postForm sends the presigned fields, extra fields and the file (last) as a browser would.
func postForm(t *testing.T, target string, values, extra map[string]string, file []byte) *http.Response {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, fields := range []map[string]string{values, extra} {
		for k, v := range fields {
			if err := w.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	fw, err := w.CreateFormFile("file", "upload.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	w.Close()
	resp, err := http.Post(target, w.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
