package s3proto

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// partBody returns n reproducible bytes.
func partBody(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func TestMultipartHandlers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/mpb", nil, nil, 200)
	_, data := f.must(t, "POST", "/s3/mpb/dir/obj.bin?uploads", nil, map[string]string{"Content-Type": "application/x-test", "x-amz-meta-color": "blue"}, 200)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal(data, &init); err != nil || init.UploadID == "" || init.Key != "dir/obj.bin" || init.Bucket != "mpb" {
		t.Fatalf("initiate: %+v %v\n%s", init, err, data)
	}
	wantContains(t, data, `<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	base := "/s3/mpb/dir/obj.bin?uploadId=" + init.UploadID
	p1, p2 := partBody(1, 5<<20), []byte("tail")
	resp, _ := f.must(t, "PUT", base+"&partNumber=1", p1, nil, 200)
	etag1 := resp.Header.Get("ETag")
	resp, _ = f.must(t, "PUT", base+"&partNumber=2", p2, nil, 200)
	etag2 := resp.Header.Get("ETag")
	if s := md5.Sum(p1); etag1 != `"`+hex.EncodeToString(s[:])+`"` {
		t.Fatalf("part ETag %s", etag1)
	}

	errCases := []struct {
		name, method, target string
		body                 string
		status               int
		code                 string
	}{
		{"part number zero", "PUT", base + "&partNumber=0", "x", 400, "InvalidArgument"},
		{"part number junk", "PUT", base + "&partNumber=1x", "x", 400, "InvalidArgument"},
		{"unknown upload", "PUT", "/s3/mpb/dir/obj.bin?uploadId=nope&partNumber=1", "x", 404, "NoSuchUpload"},
		{"malformed xml", "POST", base, "<CompleteMultipartUpload><Part>", 400, "MalformedXML"},
		{"wrong root", "POST", base, "<Delete/>", 400, "MalformedXML"},
		// S3 refuses a completion naming no parts; the upload stays completable (below).
		{"no parts", "POST", base, `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CompleteMultipartUpload>`, 400, "MalformedXML"},
		{"empty root", "POST", base, "<CompleteMultipartUpload/>", 400, "MalformedXML"},
		{"only unknown elements", "POST", base, "<CompleteMultipartUpload><Note>x</Note></CompleteMultipartUpload>", 400, "MalformedXML"},
		{"empty body", "POST", base, "", 400, "MalformedXML"},
		{"bad part number in xml", "POST", base, "<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>", 400, "InvalidArgument"},
		{"out of order", "POST", base, completeXML(2, etag2, 1, etag1), 400, "InvalidPartOrder"},
		{"wrong etag", "POST", base, completeXML(1, `"00000000000000000000000000000000"`), 400, "InvalidPart"},
		{"list parts bad max", "GET", base + "&max-parts=x", "", 400, "InvalidArgument"},
		{"list uploads of missing bucket", "GET", "/s3/nobucket?uploads", "", 404, "NoSuchBucket"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, data := f.must(t, tc.method, tc.target, []byte(tc.body), nil, tc.status)
			wantContains(t, data, "<Code>"+tc.code+"</Code>")
		})
	}
	_, data = f.must(t, "POST", base, []byte("<CompleteMultipartUpload/>"), nil, 400)
	wantContains(t, data, "<Message>The XML you provided was not well-formed or did not validate against our published schema.</Message>")

	_, data = f.must(t, "GET", base+"&max-parts=1", nil, nil, 200)
	wantContains(t, data, "<ListPartsResult", "<PartNumber>1</PartNumber>", "<ETag>"+xmlEscape(etag1)+"</ETag>",
		"<MaxParts>1</MaxParts>", "<IsTruncated>true</IsTruncated>", "<NextPartNumberMarker>1</NextPartNumberMarker>", "<Size>5242880</Size>")
	_, data = f.must(t, "GET", "/s3/mpb?uploads&prefix=dir/&delimiter=/", nil, nil, 200)
	wantContains(t, data, "<ListMultipartUploadsResult", "<Key>dir/obj.bin</Key>", "<UploadId>"+init.UploadID+"</UploadId>", "<Prefix>dir/</Prefix>")
	_, data = f.must(t, "GET", "/s3/mpb?uploads&delimiter=/", nil, nil, 200)
	wantContains(t, data, "<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>")

	_, data = f.must(t, "POST", base, []byte(completeXML(1, etag1, 2, etag2)), nil, 200)
	var done completeMultipartUploadResult
	if err := xml.Unmarshal(data, &done); err != nil || !strings.HasSuffix(done.ETag, `-2"`) || done.Key != "dir/obj.bin" {
		t.Fatalf("complete: %+v %v\n%s", done, err, data)
	}
	resp, got := f.must(t, "GET", "/s3/mpb/dir/obj.bin", nil, nil, 200)
	if !bytes.Equal(got, append(p1, p2...)) || resp.Header.Get("ETag") != done.ETag || resp.Header.Get("x-amz-meta-color") != "blue" ||
		resp.Header.Get("Content-Type") != "application/x-test" {
		t.Fatalf("object: %d bytes, headers %v", len(got), resp.Header)
	}
	_, data = f.must(t, "GET", base, nil, nil, 404)
	wantContains(t, data, "<Code>NoSuchUpload</Code>")
}

func TestMultipartAbortAndCopyHandlers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/mpb", nil, nil, 200)
	f.must(t, "PUT", "/s3/mpb/src", []byte("0123456789"), nil, 200)
	_, data := f.must(t, "POST", "/s3/mpb/dst?uploads", nil, nil, 200)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal(data, &init); err != nil {
		t.Fatal(err)
	}
	base := "/s3/mpb/dst?uploadId=" + init.UploadID
	_, data = f.must(t, "PUT", base+"&partNumber=1", nil, map[string]string{"x-amz-copy-source": "/mpb/src", "x-amz-copy-source-range": "bytes=2-5"}, 200)
	wantContains(t, data, "<CopyPartResult", "<ETag>", "<LastModified>")
	_, data = f.must(t, "PUT", base+"&partNumber=2", nil, map[string]string{"x-amz-copy-source": "/mpb/src", "x-amz-copy-source-range": "bytes=5-2"}, 400)
	wantContains(t, data, "<Code>InvalidArgument</Code>")
	// A range that does not lie inside the 10-byte source is 400 InvalidRange, as S3.
	for _, r := range []string{"bytes=0-10", "bytes=10-12", "bytes=2-99999999"} {
		_, data = f.must(t, "PUT", base+"&partNumber=2", nil, map[string]string{"x-amz-copy-source": "/mpb/src", "x-amz-copy-source-range": r}, 400)
		wantContains(t, data, "<Code>InvalidRange</Code>", "source object of size: 10")
	}
	f.must(t, "DELETE", base, nil, nil, 204)
	_, data = f.must(t, "DELETE", base, nil, nil, 404)
	wantContains(t, data, "<Code>NoSuchUpload</Code>")
}

func completeXML(pairs ...any) string {
	var b strings.Builder
	b.WriteString(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", pairs[i], xmlEscape(pairs[i+1].(string)))
	}
	b.WriteString("</CompleteMultipartUpload>")
	return b.String()
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
