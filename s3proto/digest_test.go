package s3proto

import (
	"crypto/md5"
	"encoding/base64"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
)

// TestPutObjectDigestErrors: a malformed or empty Content-MD5 is 400 InvalidDigest, a wrong one
// 400 BadDigest; an x-amz-checksum-<alg> that does not match the body, or does not even
// decode, is 400 BadDigest. Nothing is stored in any of these cases.
func TestPutObjectDigestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/dig", nil, nil, 200)
	body := []byte("digest body")
	otherMD5 := md5.Sum([]byte("other"))
	crc := crc32.ChecksumIEEE(body) + 1
	wrongCRC := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	cases := []struct {
		name, header, value, code string
	}{
		{"empty md5", "Content-MD5", "", "InvalidDigest"},
		{"md5 not base64", "Content-MD5", "not*base64!", "InvalidDigest"},
		{"md5 wrong length", "Content-MD5", base64.StdEncoding.EncodeToString([]byte("short")), "InvalidDigest"},
		{"md5 mismatch", "Content-MD5", base64.StdEncoding.EncodeToString(otherMD5[:]), "BadDigest"},
		{"crc32 mismatch", "x-amz-checksum-crc32", wrongCRC, "BadDigest"},
		{"crc32 not base64", "x-amz-checksum-crc32", "@@@@", "BadDigest"},
		{"crc32 wrong length", "x-amz-checksum-crc32", base64.StdEncoding.EncodeToString([]byte("toolong!")), "BadDigest"},
		{"sha256 wrong length", "x-amz-checksum-sha256", base64.StdEncoding.EncodeToString([]byte("x")), "BadDigest"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "/s3/dig/k" + strconv.Itoa(i)
			_, data := f.must(t, "PUT", key, body, map[string]string{tc.header: tc.value}, 400)
			wantContains(t, data, "<Code>"+tc.code+"</Code>")
			f.must(t, "HEAD", key, nil, nil, 404)
			// The same on UploadPart.
			_, data = f.must(t, "POST", "/s3/dig/mp?uploads", nil, nil, 200)
			id := between(string(data), "<UploadId>", "</UploadId>")
			_, data = f.must(t, "PUT", "/s3/dig/mp?partNumber=1&uploadId="+id, body, map[string]string{tc.header: tc.value}, 400)
			wantContains(t, data, "<Code>"+tc.code+"</Code>")
			// And on a small XML body (PutObjectTagging).
			f.must(t, "PUT", "/s3/dig/tagged", body, nil, 200)
			_, data = f.must(t, "PUT", "/s3/dig/tagged?tagging", []byte(`<Tagging><TagSet/></Tagging>`), map[string]string{tc.header: tc.value}, 400)
			wantContains(t, data, "<Code>"+tc.code+"</Code>")
		})
	}
	right := md5.Sum(body)
	f.must(t, "PUT", "/s3/dig/k", body, map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(right[:])}, 200)
}

// between returns the text of s between the first start and the next end, "" when absent.
func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}
