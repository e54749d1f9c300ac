package s3proto

import (
	"encoding/xml"
	"testing"
)

// TestCompleteMultipartUploadTwice: a client that lost the answer to its completion and
// sends it again gets 200 and the same ETag, as from S3.
func TestCompleteMultipartUploadTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/twice", nil, nil, 200)
	_, data := f.must(t, "POST", "/s3/twice/k?uploads", nil, nil, 200)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal(data, &init); err != nil {
		t.Fatal(err)
	}
	base := "/s3/twice/k?uploadId=" + init.UploadID
	resp, _ := f.must(t, "PUT", base+"&partNumber=1", []byte("only part"), nil, 200)
	body := []byte(completeXML(1, resp.Header.Get("ETag")))
	var first, again completeMultipartUploadResult
	_, data = f.must(t, "POST", base, body, nil, 200)
	if err := xml.Unmarshal(data, &first); err != nil || first.ETag == "" {
		t.Fatalf("first completion: %+v %v", first, err)
	}
	_, data = f.must(t, "POST", base, body, nil, 200)
	if err := xml.Unmarshal(data, &again); err != nil || again.ETag != first.ETag || again.Key != "k" || again.Bucket != "twice" {
		t.Fatalf("repeated completion: %+v %v, want ETag %s", again, err, first.ETag)
	}
	_, data = f.must(t, "POST", base, []byte(completeXML(1, `"00000000000000000000000000000000"`)), nil, 404)
	wantContains(t, data, "<Code>NoSuchUpload</Code>")
}
