package s3proto

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestConditionalWrites: PutObject, CompleteMultipartUpload and CopyObject answer S3's
// statuses and codes for If-None-Match and If-Match on the destination.
func TestConditionalWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/cwb", nil, nil, 200)
	resp, _ := f.must(t, "PUT", "/s3/cwb/taken", []byte("first"), nil, 200)
	etag := resp.Header.Get("ETag")
	f.must(t, "PUT", "/s3/cwb/src", []byte("source"), nil, 200)

	// complete starts an upload of key with one part and returns the completion request.
	complete := func(t *testing.T, key string) (string, []byte) {
		_, data := f.must(t, "POST", "/s3/cwb/"+key+"?uploads", nil, nil, 200)
		var init initiateMultipartUploadResult
		if err := xml.Unmarshal(data, &init); err != nil {
			t.Fatal(err)
		}
		base := "/s3/cwb/" + key + "?uploadId=" + init.UploadID
		resp, _ := f.must(t, "PUT", base+"&partNumber=1", []byte("one part"), nil, 200)
		return base, []byte(completeXML(1, resp.Header.Get("ETag")))
	}
	cases := []struct {
		name   string
		op     string // put, complete, copy
		key    string
		hdr    map[string]string
		status int
		code   string
	}{
		{"put if-none-match on an existing key", "put", "taken", map[string]string{"If-None-Match": "*"}, 412, "PreconditionFailed"},
		{"put if-none-match on a new key", "put", "new-put", map[string]string{"If-None-Match": "*"}, 200, ""},
		{"put if-none-match with an etag", "put", "taken", map[string]string{"If-None-Match": etag}, 501, "NotImplemented"},
		{"put if-none-match with if-match", "put", "taken", map[string]string{"If-None-Match": "*", "If-Match": etag}, 501, "NotImplemented"},
		{"put if-match with another etag", "put", "taken", map[string]string{"If-Match": `"abc"`}, 412, "PreconditionFailed"},
		{"put if-match on a missing key", "put", "missing", map[string]string{"If-Match": etag}, 404, "NoSuchKey"},
		{"put if-match with the etag", "put", "taken", map[string]string{"If-Match": etag}, 200, ""},
		{"complete if-none-match on an existing key", "complete", "taken", map[string]string{"If-None-Match": "*"}, 412, "PreconditionFailed"},
		{"complete if-match on a missing key", "complete", "missing-mp", map[string]string{"If-Match": etag}, 404, "NoSuchKey"},
		{"complete if-none-match with an etag", "complete", "taken", map[string]string{"If-None-Match": `"abc"`}, 501, "NotImplemented"},
		{"complete if-none-match on a new key", "complete", "new-mp", map[string]string{"If-None-Match": "*"}, 200, ""},
		{"copy if-none-match on an existing destination", "copy", "taken", map[string]string{"If-None-Match": "*"}, 412, "PreconditionFailed"},
		{"copy if-match on a missing destination", "copy", "missing-copy", map[string]string{"If-Match": "*"}, 404, "NoSuchKey"},
		{"copy if-none-match on a new destination", "copy", "new-copy", map[string]string{"If-None-Match": "*"}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := f.do(t, serviceCreds, "HEAD", "/s3/cwb/"+tc.key, nil, nil)
			var resp *http.Response
			var data []byte
			switch tc.op {
			case "put":
				resp, data = f.do(t, serviceCreds, "PUT", "/s3/cwb/"+tc.key, []byte("by "+tc.name), tc.hdr)
			case "complete":
				target, body := complete(t, tc.key)
				resp, data = f.do(t, serviceCreds, "POST", target, body, tc.hdr)
			case "copy":
				hdr := map[string]string{"x-amz-copy-source": "cwb/src"}
				for k, v := range tc.hdr {
					hdr[k] = v
				}
				resp, data = f.do(t, serviceCreds, "PUT", "/s3/cwb/"+tc.key, nil, hdr)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, data)
			}
			after, _ := f.do(t, serviceCreds, "HEAD", "/s3/cwb/"+tc.key, nil, nil)
			if tc.code != "" {
				wantContains(t, data, "<Code>"+tc.code+"</Code>")
				if after.StatusCode != before.StatusCode || after.Header.Get("ETag") != before.Header.Get("ETag") {
					t.Fatalf("refused write changed the key: %d %s -> %d %s", before.StatusCode, before.Header.Get("ETag"),
						after.StatusCode, after.Header.Get("ETag"))
				}
				return
			}
			if after.StatusCode != 200 || after.Header.Get("ETag") == before.Header.Get("ETag") {
				t.Fatalf("write did not land: %d %s", after.StatusCode, after.Header.Get("ETag"))
			}
		})
	}
}

// TestConditionalPutRace: concurrent PutObject requests with If-None-Match: * on one new
// key: exactly one 200, every other one 412, and the object is the winner's bytes.
func TestConditionalPutRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/cwrace", nil, nil, 200)
	const writers = 8
	body := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprint(i)), 4096) }
	status := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := f.do(t, serviceCreds, "PUT", "/s3/cwrace/key", body(i), map[string]string{"If-None-Match": "*"})
			status[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	winner := -1
	for i, s := range status {
		switch {
		case s == 200 && winner >= 0:
			t.Fatalf("requests %d and %d both succeeded", winner, i)
		case s == 200:
			winner = i
		case s != 412:
			t.Fatalf("request %d: status %d, want 412", i, s)
		}
	}
	if winner < 0 {
		t.Fatalf("no request succeeded: %v", status)
	}
	_, data := f.must(t, "GET", "/s3/cwrace/key", nil, nil, 200)
	if !bytes.Equal(data, body(winner)) {
		t.Fatalf("object is not request %d's body", winner)
	}
}
