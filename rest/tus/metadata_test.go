package tus

import (
	"testing"
)

// Upload-Metadata values the database cannot store (a NUL or invalid UTF-8 in the user
// metadata JSON or the content type; base64 carries any byte) answer 400 at creation,
// in plain text, instead of a 500 DatabaseError; no upload is created.
func TestBadUploadMetadata(t *testing.T) {
	f := newFixture(t)
	f.bucket("meta", nil)
	for _, tc := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"user metadata NUL escape", []string{"metadata", `{"a":"\u0000"}`}, "metadata must be JSON in valid UTF-8 without NUL characters\n"},
		{"user metadata invalid UTF-8", []string{"metadata", "{\"a\":\"\xff\"}"}, "metadata must be JSON in valid UTF-8 without NUL characters\n"},
		{"content type NUL", []string{"contentType", "text/plain\x00"}, "Content-Type must be valid UTF-8 without NUL characters\n"},
		{"content type invalid UTF-8", []string{"contentType", "text/\xe9"}, "Content-Type must be valid UTF-8 without NUL characters\n"},
	} {
		t.Log(tc.name) // the fixture fails the parent test: no subtests here
		r := f.do("POST", "/upload/resumable", f.service, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "1",
			"Upload-Metadata", meta("meta", "k.txt", tc.extra...))
		if r.status != 400 || r.body != tc.want {
			t.Fatalf("%s: %d %q, want 400 %q", tc.name, r.status, r.body, tc.want)
		}
	}
	var n int
	if err := f.pool.QueryRow(t.Context(), `select count(*) from stowage.tus_uploads`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d uploads created (%v)", n, err)
	}
}
