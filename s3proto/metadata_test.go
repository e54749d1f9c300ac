package s3proto

import (
	"errors"
	"strings"
	"testing"
)

// TestUserMetadataLimit: x-amz-meta-* headers and POST form fields share S3's 2 KiB limit on
// names + values, and keep names lower-cased without their prefix.
func TestUserMetadataLimit(t *testing.T) {
	t.Parallel()
	got, err := postMetadata(map[string]string{"x-amz-meta-color": "blue", "key": "k", "x-amz-meta-": "no name"})
	if err != nil || string(got) != `{"color":"blue"}` {
		t.Fatalf("postMetadata: %s %v", got, err)
	}
	if got, err := postMetadata(map[string]string{"key": "k"}); got != nil || err != nil {
		t.Fatalf("no metadata: %s %v", got, err)
	}
	big := strings.Repeat("v", maxUserMetadata)
	if _, err := postMetadata(map[string]string{"x-amz-meta-big": big}); !errors.Is(err, errMetadataTooLarge) {
		t.Fatalf("oversized form metadata: %v", err)
	}

	f := newFixture(t)
	f.must(t, "PUT", "/s3/mdb", nil, nil, 200)
	_, data := f.must(t, "PUT", "/s3/mdb/k", []byte("x"), map[string]string{"x-amz-meta-big": big}, 400)
	wantContains(t, data, "<Code>MetadataTooLarge</Code>")
	f.must(t, "HEAD", "/s3/mdb/k", nil, nil, 404)
	fits := strings.Repeat("v", maxUserMetadata-len("fits"))
	f.must(t, "PUT", "/s3/mdb/k", []byte("x"), map[string]string{"X-Amz-Meta-Fits": fits}, 200)
	resp, _ := f.must(t, "HEAD", "/s3/mdb/k", nil, nil, 200)
	if resp.Header.Get("x-amz-meta-fits") != fits {
		t.Fatalf("metadata at the limit not stored: %q", resp.Header.Get("x-amz-meta-fits"))
	}
}
