package s3proto

import (
	"errors"
	"strings"
	"testing"
	"time"
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

// User metadata and headers the database cannot store answer 400 InvalidArgument and
// store nothing: invalid UTF-8 in an x-amz-meta-* header (JSON would have replaced it with
// U+FFFD silently) or in Content-Type, a NUL in a browser-form field (a 500 DatabaseError
// from Postgres before).
func TestBadUserMetadata(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/bad", nil, nil, 200)
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"meta value invalid UTF-8", map[string]string{"x-amz-meta-city": "caf\xe9"}},
		{"content type invalid UTF-8", map[string]string{"Content-Type": "text/caf\xe9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "/s3/bad/" + strings.ReplaceAll(tc.name, " ", "-")
			_, data := f.must(t, "PUT", key, []byte("x"), tc.hdr, 400)
			wantContains(t, data, "<Code>InvalidArgument</Code>", "must be valid UTF-8 without NUL characters")
			f.must(t, "HEAD", key, nil, nil, 404)
			_, data = f.must(t, "POST", key+"?uploads", nil, tc.hdr, 400)
			wantContains(t, data, "<Code>InvalidArgument</Code>")
		})
	}
	later := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name, field, value string
	}{
		{"form meta value NUL", "x-amz-meta-a", "a\x00b"},
		{"form meta name invalid UTF-8", "x-amz-meta-\xff", "v"},
		{"form content type NUL", "Content-Type", "text/plain\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := strings.ReplaceAll(tc.name, " ", "-")
			resp, data := f.post(t, "/s3/bad", postForm{creds: serviceCreds, expiration: later,
				conditions: []any{map[string]string{"bucket": "bad"}, []any{"eq", "$key", key}, []any{"eq", "$" + tc.field, tc.value}},
				fields:     []postField{{"key", key}, {tc.field, tc.value}}, filename: "f", file: []byte("x")})
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, data)
			}
			wantContains(t, data, "<Code>InvalidArgument</Code>")
			f.must(t, "HEAD", "/s3/bad/"+key, nil, nil, 404)
		})
	}
}
