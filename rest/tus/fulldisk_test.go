package tus

import (
	"strings"
	"testing"

	"github.com/stowage/stowage/gateway/backend/backendtest"
)

// A chunk that meets a full disk (a real tmpfs) answers 507 in plain text with the errno's
// text and no host path, not a 500; the offset stays where it was. Creation-with-upload
// and a read-only disk answer the same.
func TestFullDisk(t *testing.T) {
	root := backendtest.SmallDisk(t, 512<<10)
	f := newFixtureOn(t, root)
	f.bucket("full", nil)
	big := strings.Repeat("x", 1<<20)
	check := func(r reply, why string) {
		t.Helper()
		f.must(r, 507)
		if r.body != "Insufficient storage: "+why+"\n" || strings.Contains(r.body, root) ||
			!strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("body %q (%s), want the errno's text %q in plain text", r.body, r.header.Get("Content-Type"), why)
		}
	}
	loc := f.create(f.service, len(big), meta("full", "big.bin"))
	check(f.patch(loc, f.service, 0, big), "no space left on device")
	if r := f.must(f.do("HEAD", loc, f.service, nil, "Tus-Resumable", "1.0.0"), 200); r.header.Get("Upload-Offset") != "0" {
		t.Fatalf("offset after the failed chunk: %q, want 0", r.header.Get("Upload-Offset"))
	}
	check(f.do("POST", "/upload/resumable", f.service, big, "Tus-Resumable", "1.0.0", "Upload-Length", itoa(len(big)),
		"Upload-Metadata", meta("full", "with-body.bin"), "Content-Type", "application/offset+octet-stream"), "no space left on device")

	backendtest.SetReadOnly(t, root, true)
	check(f.patch(loc, f.service, 0, "x"), "read-only file system")
}
