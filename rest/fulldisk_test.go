package rest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stowage/stowage/gateway/backend/backendtest"
)

// A full disk (a real tmpfs) answers 507 InsufficientStorage in the reference's envelope,
// with the errno's text and no host path, instead of a 500 that clients retry straight into
// the full disk; a read-only one the same. Nothing becomes visible.
func TestFullDisk(t *testing.T) {
	root := backendtest.SmallDisk(t, 512<<10)
	f := newFixture(t, fixtureOptions{storeRoot: root})
	f.bucket("full", nil)
	full := envelope{http: 507, statusCode: "507", code: "InsufficientStorage", message: "Insufficient storage: no space left on device"}
	check := func(r reply, want envelope) {
		t.Helper()
		f.checkError(r, want)
		if e := r.json(t); e["error"] != "InsufficientStorage" || strings.Contains(string(r.body), root) {
			t.Fatalf("envelope %s: want error InsufficientStorage and no host path", r.body)
		}
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	check(f.do("POST", "/object/full/big.bin", f.service, big, "Content-Type", "application/octet-stream"), full)
	check(f.do("PUT", "/object/full/big.bin", f.service, bytes.NewBuffer(big), "Content-Type", "application/octet-stream"), full)
	f.checkError(f.do("GET", "/object/full/big.bin", f.service, nil), envelope{http: 400, statusCode: "404", code: "NoSuchKey"})

	backendtest.SetReadOnly(t, root, true)
	check(f.do("POST", "/object/full/small.txt", f.service, "x", "Content-Type", "text/plain"),
		envelope{http: 507, statusCode: "507", code: "InsufficientStorage", message: "Insufficient storage: read-only file system"})
}
