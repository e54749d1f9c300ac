package tus

import (
	"net/url"
	"strings"
	"testing"
)

// TestUnicodeObjectNames: objectName metadata holding any key S3 accepts is stored under
// exactly that key and echoed back exactly in HEAD's Upload-Metadata; control characters
// are Invalid key.
func TestUnicodeObjectNames(t *testing.T) {
	f := newFixture(t)
	f.bucket("un", nil)
	tr := []string{"Tus-Resumable", "1.0.0"}
	for _, name := range []string{
		"café/naïve résumé.txt",
		"日本語/ファイル.txt",
		"Screenshot 2024-01-01 at 10.00.00\u202fAM.png",
		`100%_[a]{b}^~"q"<x>|y\z#.txt`,
		"lit%2Fslash?x=1",
	} {
		t.Run(name, func(t *testing.T) {
			f.t = t
			loc := f.create(f.service, 6, meta("un", name))
			r := f.must(f.do("HEAD", loc, f.service, nil, tr...), 200)
			m, ok := parseMetadata(r.header.Get("Upload-Metadata"))
			if !ok {
				t.Fatalf("HEAD Upload-Metadata %q", r.header.Get("Upload-Metadata"))
			}
			var got string
			for _, kv := range m {
				if kv.key == "objectName" {
					got = kv.value
				}
			}
			if got != name {
				t.Fatalf("HEAD objectName %q, want %q", got, name)
			}
			f.must(f.patch(loc, f.service, 0, "abc"), 204)
			f.must(f.patch(loc, f.service, 3, "def"), 204)
			segs := strings.Split(name, "/")
			for i, s := range segs {
				segs[i] = url.PathEscape(s)
			}
			if body := f.download("un", strings.Join(segs, "/")); body != "abcdef" {
				t.Fatalf("download %q", body)
			}
		})
	}
	f.t = t
	for _, bad := range []string{"a\tb", "a\nb", "a\x00b", "caf\xe9", "a\u0085b"} {
		r := f.do("POST", "/upload/resumable", f.service, nil, append(tr, "Upload-Length", "1", "Upload-Metadata", meta("un", bad))...)
		if r.status != 400 || !strings.Contains(r.body, "Invalid key") {
			t.Fatalf("objectName %q: %d %s", bad, r.status, r.body)
		}
	}
}
