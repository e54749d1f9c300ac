package s3proto

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestGetObjectPart: GET and HEAD ?partNumber=N answer exactly part N of a multipart
// object (206, the part's Content-Range and length, x-amz-mp-parts-count); part 1 of a
// plain object is the whole object without a parts count; GetObjectAttributes pages the
// parts.
func TestGetObjectPart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/parts", nil, nil, 200)
	_, data := f.must(t, "POST", "/s3/parts/mp?uploads", nil, nil, 200)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal(data, &init); err != nil {
		t.Fatal(err)
	}
	base := "/s3/parts/mp?uploadId=" + init.UploadID
	p1, p2 := partBody(3, 5<<20), []byte("the tail part")
	r1, _ := f.must(t, "PUT", base+"&partNumber=1", p1, nil, 200)
	r2, _ := f.must(t, "PUT", base+"&partNumber=2", p2, nil, 200)
	f.must(t, "POST", base, []byte(completeXML(1, r1.Header.Get("ETag"), 2, r2.Header.Get("ETag"))), nil, 200)
	total := len(p1) + len(p2)
	f.must(t, "PUT", "/s3/parts/plain", []byte("plain bytes"), nil, 200)
	head, _ := f.must(t, "HEAD", "/s3/parts/mp", nil, nil, 200)
	etag := head.Header.Get("ETag")

	reads := []struct {
		name, method, target string
		hdr                  map[string]string
		status               int
		body                 []byte // GET only
		length               int
		contentRange, count  string
	}{
		{"get part 1", "GET", "/s3/parts/mp?partNumber=1", nil, 206, p1, len(p1), fmt.Sprintf("bytes 0-%d/%d", len(p1)-1, total), "2"},
		{"get part 2", "GET", "/s3/parts/mp?partNumber=2", nil, 206, p2, len(p2), fmt.Sprintf("bytes %d-%d/%d", len(p1), total-1, total), "2"},
		{"head part 2", "HEAD", "/s3/parts/mp?partNumber=2", nil, 206, nil, len(p2), fmt.Sprintf("bytes %d-%d/%d", len(p1), total-1, total), "2"},
		{"plain object part 1", "GET", "/s3/parts/plain?partNumber=1", nil, 206, []byte("plain bytes"), 11, "bytes 0-10/11", ""},
	}
	for _, tc := range reads {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := f.must(t, tc.method, tc.target, nil, tc.hdr, tc.status)
			if tc.method == "GET" && !bytes.Equal(data, tc.body) {
				t.Fatalf("body: %d bytes, want %d", len(data), len(tc.body))
			}
			if resp.Header.Get("Content-Length") != strconv.Itoa(tc.length) || resp.Header.Get("Content-Range") != tc.contentRange ||
				resp.Header.Get("x-amz-mp-parts-count") != tc.count {
				t.Fatalf("headers: length %s, range %s, parts count %q", resp.Header.Get("Content-Length"),
					resp.Header.Get("Content-Range"), resp.Header.Get("x-amz-mp-parts-count"))
			}
			if strings.HasPrefix(tc.target, "/s3/parts/mp?") && resp.Header.Get("ETag") != etag {
				t.Fatalf("ETag %s, want the object's %s", resp.Header.Get("ETag"), etag)
			}
		})
	}
	errs := []struct {
		name, method, target string
		hdr                  map[string]string
		status               int
		code                 string
	}{
		{"part out of range", "GET", "/s3/parts/mp?partNumber=3", nil, 416, "InvalidPartNumber"},
		{"head part out of range", "HEAD", "/s3/parts/mp?partNumber=3", nil, 416, ""},
		{"plain object part 2", "GET", "/s3/parts/plain?partNumber=2", nil, 416, "InvalidPartNumber"},
		{"part with range", "GET", "/s3/parts/mp?partNumber=1", map[string]string{"Range": "bytes=0-9"}, 400, "InvalidRequest"},
		{"part zero", "GET", "/s3/parts/mp?partNumber=0", nil, 400, "InvalidArgument"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, data := f.must(t, tc.method, tc.target, nil, tc.hdr, tc.status)
			if tc.code != "" {
				wantContains(t, data, "<Code>"+tc.code+"</Code>")
			}
		})
	}

	attrs := []struct {
		name   string
		target string
		hdr    map[string]string
		want   []string
		absent string
	}{
		{"first page", "/s3/parts/mp?attributes", map[string]string{"x-amz-object-attributes": "ObjectParts", "x-amz-max-parts": "1"},
			[]string{"<ObjectParts><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>1</NextPartNumberMarker><MaxParts>1</MaxParts><IsTruncated>true</IsTruncated><PartsCount>2</PartsCount>",
				fmt.Sprintf("<Part><PartNumber>1</PartNumber><Size>%d</Size></Part></ObjectParts>", len(p1))}, "<PartNumber>2</PartNumber>"},
		{"after the marker", "/s3/parts/mp?attributes", map[string]string{"x-amz-object-attributes": "ObjectParts,ObjectSize", "x-amz-part-number-marker": "1"},
			[]string{"<IsTruncated>false</IsTruncated>", fmt.Sprintf("<Part><PartNumber>2</PartNumber><Size>%d</Size></Part>", len(p2)),
				fmt.Sprintf("<ObjectSize>%d</ObjectSize>", total)}, "<PartNumber>1</PartNumber>"},
		{"plain object", "/s3/parts/plain?attributes", map[string]string{"x-amz-object-attributes": "ObjectParts,ObjectSize"},
			[]string{"<ObjectSize>11</ObjectSize>"}, "ObjectParts"},
	}
	for _, tc := range attrs {
		t.Run("attributes "+tc.name, func(t *testing.T) {
			_, data := f.must(t, "GET", tc.target, nil, tc.hdr, 200)
			wantContains(t, data, tc.want...)
			if bytes.Contains(data, []byte(tc.absent)) {
				t.Fatalf("response has %q:\n%s", tc.absent, data)
			}
		})
	}
	_, data = f.must(t, "GET", "/s3/parts/mp?attributes", nil, map[string]string{"x-amz-object-attributes": "ObjectParts", "x-amz-max-parts": "x"}, 400)
	wantContains(t, data, "<Code>InvalidArgument</Code>")
}

// TestGetObjectPartWithoutLayout: an object completed before migration 0006 (or by a
// reference server) has a multipart ETag but no recorded layout, so its part sizes are
// unknown. It reads consistently as one part, as a plain object: partNumber=1 is the whole
// object without x-amz-mp-parts-count (so a parallel downloader fetches it whole), other
// parts are 416, and GetObjectAttributes has no ObjectParts. S3 would serve part N.
func TestGetObjectPartWithoutLayout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/legacy", nil, nil, 200)
	_, data := f.must(t, "POST", "/s3/legacy/mp?uploads", nil, nil, 200)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal(data, &init); err != nil {
		t.Fatal(err)
	}
	base := "/s3/legacy/mp?uploadId=" + init.UploadID
	p1, p2 := partBody(5, 5<<20), []byte("tail")
	r1, _ := f.must(t, "PUT", base+"&partNumber=1", p1, nil, 200)
	r2, _ := f.must(t, "PUT", base+"&partNumber=2", p2, nil, 200)
	f.must(t, "POST", base, []byte(completeXML(1, r1.Header.Get("ETag"), 2, r2.Header.Get("ETag"))), nil, 200)
	// What the database of an older Stowage holds: the object, no layout.
	tag, err := f.db.Pool().Exec(context.Background(), `delete from stowage.object_parts`)
	if err != nil || tag.RowsAffected() != 2 {
		t.Fatalf("forget the layout: %v (%d rows)", err, tag.RowsAffected())
	}
	resp, data := f.must(t, "GET", "/s3/legacy/mp?partNumber=1", nil, nil, 206)
	total := len(p1) + len(p2)
	if len(data) != total || resp.Header.Get("x-amz-mp-parts-count") != "" ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-%d/%d", total-1, total) || !strings.HasSuffix(resp.Header.Get("ETag"), `-2"`) {
		t.Fatalf("part 1: %d bytes, headers %v", len(data), resp.Header)
	}
	_, data = f.must(t, "GET", "/s3/legacy/mp?partNumber=2", nil, nil, 416)
	wantContains(t, data, "<Code>InvalidPartNumber</Code>")
	_, data = f.must(t, "GET", "/s3/legacy/mp?attributes", nil, map[string]string{"x-amz-object-attributes": "ObjectParts,ObjectSize"}, 200)
	wantContains(t, data, fmt.Sprintf("<ObjectSize>%d</ObjectSize>", total))
	if strings.Contains(string(data), "ObjectParts") {
		t.Fatalf("ObjectParts without a layout: %s", data)
	}
}
