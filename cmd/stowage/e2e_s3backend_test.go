package main

import (
	"crypto/sha256"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/gateway/backend/backendtest"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

// TestServeS3Backend runs the binary with STORAGE_BACKEND=s3 against a MinIO and checks
// that REST uploads round-trip and that the bytes really sit in the upstream bucket under
// <tenant>/<bucket>/<key>/<version> (spec §0.10).
func TestServeS3Backend(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO and the server")
	}
	m := miniotest.Start(t)
	s := harness.Start(t, harness.Options{Backend: "s3", MinIO: m, Env: map[string]string{
		// Must not matter for a plain-http upstream (FIELD-NOTES).
		"AWS_CA_BUNDLE": "/nonexistent/stowage-ca-bundle.pem",
	}})
	json := map[string]string{"Content-Type": "application/json"}
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/bucket", s.ServiceKey, strings.NewReader(`{"name":"e2e-s3"}`), -1, json), 200)

	for _, tc := range []struct {
		name    string
		size    int64
		chunked bool // Transfer-Encoding: chunked, no Content-Length: the store sees an unknown size
	}{
		{"FewMiB", 3<<20 + 17, false},
		{"Chunked64MiB", 64 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "folder/" + tc.name + ".bin"
			want := sha256.New()
			body := io.TeeReader(backendtest.Pattern(uint64(tc.size), tc.size), want)
			size := tc.size
			if tc.chunked {
				size = -1
			}
			harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/object/e2e-s3/"+name, s.ServiceKey, body, size,
				map[string]string{"Content-Type": "application/octet-stream"}), 200)
			wantSum := [32]byte(want.Sum(nil))

			resp := harness.Do(t, "GET", s.URL+"/object/authenticated/e2e-s3/"+name, s.ServiceKey, nil, 0, nil)
			if resp.StatusCode != 200 {
				harness.MustStatus(t, resp, 200)
			}
			if got := s3e2eSHA(t, resp.Body); got != wantSum {
				t.Errorf("downloaded bytes differ from the uploaded ones")
			}

			// The blob in MinIO: exactly one version under <tenant>/<bucket>/<key>/.
			prefix := "storage-single-tenant/e2e-s3/" + name + "/"
			list, err := m.Client().ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: &m.Bucket, Prefix: &prefix})
			if err != nil {
				t.Fatalf("ListObjectsV2: %v", err)
			}
			if len(list.Contents) != 1 {
				t.Fatalf("MinIO holds %d objects under %q, want 1", len(list.Contents), prefix)
			}
			obj := list.Contents[0]
			version := strings.TrimPrefix(aws.ToString(obj.Key), prefix)
			if len(version) != 36 || strings.Contains(version, "/") {
				t.Errorf("upstream key %q: want %s<uuid>", aws.ToString(obj.Key), prefix)
			}
			if aws.ToInt64(obj.Size) != tc.size {
				t.Errorf("upstream size = %d, want %d", aws.ToInt64(obj.Size), tc.size)
			}
			got, err := m.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: &m.Bucket, Key: obj.Key})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			if s3e2eSHA(t, got.Body) != wantSum {
				t.Errorf("upstream bytes differ from the uploaded ones")
			}
		})
	}
}

func s3e2eSHA(t *testing.T, rc io.ReadCloser) [32]byte {
	t.Helper()
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatalf("read: %v", err)
	}
	return [32]byte(h.Sum(nil))
}
