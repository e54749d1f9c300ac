package gateway

import (
	"strconv"
	"testing"
)

// TestParseRange checks both readings of a Range header on a 10-byte object: the REST
// dialect's (anything but one satisfiable range is InvalidRange) and S3's (a header that
// is not one well-formed byte range is ignored; only an unsatisfiable one is InvalidRange).
func TestParseRange(t *testing.T) {
	t.Parallel()
	const (
		whole = "whole" // no range: the whole object, 200
		bad   = "416"
	)
	cases := []struct {
		header   string
		size     int64
		rest, s3 string // "a-b" (inclusive), whole or bad
	}{
		{"", 10, whole, whole},
		{"bytes=0-4", 10, "0-4", "0-4"},
		{"bytes=5-", 10, "5-9", "5-9"},
		{"bytes=-5", 10, "5-9", "5-9"},
		{"bytes=-50", 10, "0-9", "0-9"},
		{"bytes=6-100", 10, "6-9", "6-9"},
		{" bytes= 2-3 ", 10, "2-3", "2-3"},
		{"bytes=1000-", 10, bad, bad},
		{"bytes=10-12", 10, bad, bad},
		{"bytes=1000-5", 10, bad, bad}, // a first byte past the end is unsatisfiable, whatever the last
		{"bytes=-0", 10, bad, bad},
		{"bytes=0-", 0, bad, bad},
		{"bytes=-5", 0, bad, whole},
		{"garbage", 10, bad, whole},
		{"bytes=abc", 10, bad, whole},
		{"bytes=a-b", 10, bad, whole},
		{"bytes=0-1,3-4", 10, bad, whole},
		{"bytes=0-1, 3-4", 10, bad, whole},
		{"items=0-1", 10, bad, whole},
		{"bytes=5-2", 10, bad, whole},
		{"bytes=-", 10, bad, whole},
		{"bytes=", 10, bad, whole},
		{"bytes=4", 10, bad, whole},
		{"bytes=+1-2", 10, bad, whole},
		{"bytes=--5", 10, bad, whole},
		{"bytes=1-2-3", 10, bad, whole},
		{"bytes=99999999999999999999-", 10, bad, whole},
	}
	show := func(r ByteRange, ok bool, err error) string {
		switch {
		case err != nil:
			if CodeOf(err) != CodeInvalidRange {
				return "error " + err.Error()
			}
			return bad
		case !ok:
			return whole
		}
		return strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.End, 10)
	}
	for _, tc := range cases {
		if got := show(ParseRange(tc.header, tc.size)); got != tc.rest {
			t.Errorf("ParseRange(%q, %d) = %s, want %s", tc.header, tc.size, got, tc.rest)
		}
		if got := show(ParseS3Range(tc.header, tc.size)); got != tc.s3 {
			t.Errorf("ParseS3Range(%q, %d) = %s, want %s", tc.header, tc.size, got, tc.s3)
		}
	}
}
