package s3proto

import (
	"strconv"
	"testing"
)

// S3 reads a Range header it cannot parse, or one naming several ranges, as no Range at
// all: 200 with the whole object. A well-formed single range the object cannot satisfy
// stays 416 InvalidRange. GET and HEAD answer alike.
func TestRangeReadAsS3(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/rng", nil, nil, 200)
	const body = "0123456789"
	f.must(t, "PUT", "/s3/rng/ten", []byte(body), nil, 200)
	f.must(t, "PUT", "/s3/rng/empty", nil, nil, 200)
	cases := []struct {
		name, key, rng string
		status         int
		body           string // GET body (the XML error code for 416)
		contentRange   string
	}{
		{"garbage", "ten", "garbage", 200, body, ""},
		{"not a number", "ten", "bytes=abc", 200, body, ""},
		{"several ranges", "ten", "bytes=0-1,3-4", 200, body, ""},
		{"other unit", "ten", "items=0-1", 200, body, ""},
		{"last before first", "ten", "bytes=5-2", 200, body, ""},
		{"no bounds", "ten", "bytes=-", 200, body, ""},
		{"suffix", "ten", "bytes=-5", 206, "56789", "bytes 5-9/10"},
		{"open", "ten", "bytes=5-", 206, "56789", "bytes 5-9/10"},
		{"closed", "ten", "bytes=2-3", 206, "23", "bytes 2-3/10"},
		{"end past the object", "ten", "bytes=8-100", 206, "89", "bytes 8-9/10"},
		{"unsatisfiable", "ten", "bytes=1000-", 416, "<Code>InvalidRange</Code>", ""},
		{"first byte at the end", "ten", "bytes=10-12", 416, "<Code>InvalidRange</Code>", ""},
		{"empty suffix", "ten", "bytes=-0", 416, "<Code>InvalidRange</Code>", ""},
		{"range of an empty object", "empty", "bytes=0-", 416, "<Code>InvalidRange</Code>", ""},
		{"suffix of an empty object", "empty", "bytes=-5", 200, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Range": tc.rng}
			resp, data := f.must(t, "GET", "/s3/rng/"+tc.key, nil, hdr, tc.status)
			if tc.status == 416 {
				wantContains(t, data, tc.body)
			} else if string(data) != tc.body {
				t.Fatalf("GET body %q, want %q", data, tc.body)
			}
			if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
				t.Fatalf("GET Content-Range %q, want %q", got, tc.contentRange)
			}
			resp, data = f.must(t, "HEAD", "/s3/rng/"+tc.key, nil, hdr, tc.status)
			if len(data) != 0 {
				t.Fatalf("HEAD body %q", data)
			}
			if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
				t.Fatalf("HEAD Content-Range %q, want %q", got, tc.contentRange)
			}
			if tc.status != 416 {
				if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(tc.body)) {
					t.Fatalf("HEAD Content-Length %q, want %d", got, len(tc.body))
				}
			}
		})
	}
}
