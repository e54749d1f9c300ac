package s3proto

import (
	"errors"
	"mime"
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
// store nothing: invalid UTF-8 in Content-Type, a NUL or a name that is not UTF-8 in a
// browser-form field (a 500 DatabaseError from Postgres before). An x-amz-meta-* value that
// is not UTF-8 is read as ISO-8859-1 (TestUserMetadataNonASCII), as Python clients send it.
func TestBadUserMetadata(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/bad", nil, nil, 200)
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
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

// TestUserMetadataNonASCII: x-amz-meta-* values with non-US-ASCII characters are kept and
// come back RFC 2047 encoded (=?UTF-8?B?...?=) as S3 answers them, not dropped with
// x-amz-missing-meta; a value the client already encoded is stored and returned as sent;
// Content-Encoding comes back byte for byte (only aws-chunked is removed).
func TestUserMetadataNonASCII(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/md8", nil, nil, 200)
	hdr := map[string]string{
		"x-amz-meta-utf8":    "café ☕",
		"x-amz-meta-latin1":  "caf\xe9",
		"x-amz-meta-encoded": "=?UTF-8?B?Y2Fmw6k=?=",
		"x-amz-meta-plain":   "ascii value",
		"Content-Encoding":   "gzip,  identity",
	}
	f.must(t, "PUT", "/s3/md8/k", []byte("x"), hdr, 200)
	for _, method := range []string{"HEAD", "GET"} {
		resp, _ := f.must(t, method, "/s3/md8/k", nil, nil, 200)
		if resp.Header.Get("x-amz-missing-meta") != "" {
			t.Fatalf("%s: metadata dropped: x-amz-missing-meta %q", method, resp.Header.Get("x-amz-missing-meta"))
		}
		dec := new(mime.WordDecoder)
		for name, want := range map[string]string{"utf8": "café ☕", "latin1": "café", "encoded": "café", "plain": "ascii value"} {
			got := resp.Header.Get("x-amz-meta-" + name)
			if name != "plain" && !strings.HasPrefix(got, "=?UTF-8?B?") {
				t.Fatalf("%s: x-amz-meta-%s %q is not RFC 2047 encoded", method, name, got)
			}
			if decoded, err := dec.DecodeHeader(got); err != nil || decoded != want {
				t.Fatalf("%s: x-amz-meta-%s %q decodes to %q (%v), want %q", method, name, got, decoded, err, want)
			}
		}
		if got := resp.Header.Get("x-amz-meta-encoded"); got != hdr["x-amz-meta-encoded"] {
			t.Fatalf("%s: an encoded value changed: %q", method, got)
		}
		if got := resp.Header.Get("Content-Encoding"); got != "gzip,  identity" {
			t.Fatalf("%s: Content-Encoding %q", method, got)
		}
	}
	hdr = map[string]string{"Content-Encoding": "gzip, aws-chunked, br"}
	f.must(t, "PUT", "/s3/md8/k2", []byte("x"), hdr, 200)
	resp, _ := f.must(t, "HEAD", "/s3/md8/k2", nil, nil, 200)
	if got := resp.Header.Get("Content-Encoding"); got != "gzip, br" {
		t.Fatalf("Content-Encoding without aws-chunked: %q", got)
	}
}

// TestStorageClass: x-amz-storage-class names S3 knows are accepted (objects read back as
// STANDARD); others are 400 InvalidStorageClass on PutObject, CopyObject and
// CreateMultipartUpload, and nothing is stored.
func TestStorageClass(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/scb", nil, nil, 200)
	f.must(t, "PUT", "/s3/scb/src", []byte("x"), nil, 200)
	f.must(t, "PUT", "/s3/scb/rr", []byte("x"), map[string]string{"x-amz-storage-class": "REDUCED_REDUNDANCY"}, 200)
	cases := []struct{ name, method, target string }{
		{"put", "PUT", "/s3/scb/bad-put"},
		{"copy", "PUT", "/s3/scb/bad-copy"},
		{"create multipart upload", "POST", "/s3/scb/bad-mpu?uploads"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"x-amz-storage-class": "INVALID-STORAGE-CLASS"}
			if tc.name == "copy" {
				hdr["x-amz-copy-source"] = "/scb/src"
			}
			_, data := f.must(t, tc.method, tc.target, nil, hdr, 400)
			wantContains(t, data, "<Code>InvalidStorageClass</Code>")
		})
	}
	f.must(t, "HEAD", "/s3/scb/bad-put", nil, nil, 404)
	f.must(t, "HEAD", "/s3/scb/bad-copy", nil, nil, 404)
	_, data := f.must(t, "GET", "/s3/scb?uploads", nil, nil, 200)
	if strings.Contains(string(data), "<Upload>") {
		t.Fatalf("a refused CreateMultipartUpload started an upload: %s", data)
	}
}
