package s3proto

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stowage/stowage/gateway/backend/backendtest"
)

// A full disk (a real tmpfs) answers 507 InsufficientStorage, which SDKs do not retry (a
// 500 or 503 they re-send at once into the same full disk), with the errno's text and no
// host path; nothing becomes visible. A read-only disk answers the same.
func TestFullDisk(t *testing.T) {
	root := backendtest.SmallDisk(t, 512<<10)
	f := newFixtureOn(t, root, nil)
	f.must(t, "PUT", "/s3/full", nil, nil, 200)
	check := func(data []byte, why string) {
		t.Helper()
		wantContains(t, data, "<Code>InsufficientStorage</Code>")
		wantContains(t, data, "<Message>Insufficient storage: "+why+"</Message>")
		if strings.Contains(string(data), root) {
			t.Fatalf("error names the host path: %s", data)
		}
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	resp, data := f.must(t, "PUT", "/s3/full/big.bin", big, nil, 507)
	check(data, "no space left on device")
	if resp.Header.Get("Retry-After") != "" {
		t.Fatalf("Retry-After on a full disk: %q", resp.Header.Get("Retry-After"))
	}
	f.must(t, "HEAD", "/s3/full/big.bin", nil, nil, 404)

	_, data = f.must(t, "POST", "/s3/full/mp.bin?uploads", nil, nil, 200)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal(data, &init); err != nil {
		t.Fatal(err)
	}
	_, data = f.must(t, "PUT", "/s3/full/mp.bin?partNumber=1&uploadId="+init.UploadID, big, nil, 507)
	check(data, "no space left on device")

	backendtest.SetReadOnly(t, root, true)
	_, data = f.must(t, "PUT", "/s3/full/small.txt", []byte("x"), nil, 507)
	check(data, "read-only file system")
}
