package s3proto

import (
	"encoding/xml"
	"testing"
)

// TestDeleteBucketWithPendingUpload: S3's DeleteBucket aborts unfinished multipart uploads
// instead of answering BucketNotEmpty (which broke client cleanups that abort nothing).
func TestDeleteBucketWithPendingUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/pend", nil, nil, 200)
	_, data := f.must(t, "POST", "/s3/pend/k?uploads", nil, nil, 200)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal(data, &init); err != nil {
		t.Fatal(err)
	}
	f.must(t, "PUT", "/s3/pend/k?uploadId="+init.UploadID+"&partNumber=1", []byte("part"), nil, 200)
	f.must(t, "DELETE", "/s3/pend", nil, nil, 204)
	_, data = f.must(t, "GET", "/s3/pend?uploads", nil, nil, 404)
	wantContains(t, data, "<Code>NoSuchBucket</Code>")
	// An object still blocks it.
	f.must(t, "PUT", "/s3/pend", nil, nil, 200)
	f.must(t, "PUT", "/s3/pend/obj", []byte("x"), nil, 200)
	_, data = f.must(t, "DELETE", "/s3/pend", nil, nil, 409)
	wantContains(t, data, "<Code>BucketNotEmpty</Code>")
}
