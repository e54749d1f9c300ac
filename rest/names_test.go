package rest

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// unicodeNames are keys outside the reference's ASCII alphabet that S3 accepts.
var unicodeNames = []string{
	"café/naïve résumé.txt",
	"日本語/ファイル.txt",
	"Screenshot 2024-01-01 at 10.00.00\u202fAM.png",
	`100%_[a]{b}^~"q"<x>|y\z#.txt`,
	"q?uery&x=1;y+z.txt",
	"lit%2Fslash",
	"emoji/😀.txt",
}

// escapeKey percent-encodes each segment (encodeURIComponent-like), keeping "/".
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = encodeURIComponent(s)
	}
	return strings.Join(segs, "/")
}

// encodeURI is JavaScript's encodeURI, which storage-js applies to a signed URL.
func encodeURI(s string) string {
	const keep = "-_.!~*'();/?:@&=+$,#"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte(keep, ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[ch>>4])+string("0123456789abcdef"[ch&15])))
	}
	return b.String()
}

// TestUnicodeKeys: every key S3 accepts round-trips byte-exact through upload, download,
// info, list v1/v2, signed URLs, signed uploads, copy and move, decoded exactly once.
func TestUnicodeKeys(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("u", nil)
	for _, k := range unicodeNames {
		f.must(f.do("POST", "/object/u/"+escapeKey(k), f.service, "body of "+k, "Content-Type", "text/plain"), 200)
	}
	for _, k := range unicodeNames {
		t.Run(k, func(t *testing.T) {
			f.t = t
			if got := f.must(f.do("GET", "/object/u/"+escapeKey(k), f.service, nil), 200).body; string(got) != "body of "+k {
				t.Fatalf("download %q: %q", k, got)
			}
			if got := f.must(f.do("GET", "/object/info/u/"+escapeKey(k), f.service, nil), 200).json(t); got["name"] != k {
				t.Fatalf("info name %q, want %q", got["name"], k)
			}
			// A signed URL as storage-js uses it: the returned path through encodeURI. Keys
			// with "?" or "#" cannot work that way (the reference returns the key raw).
			if !strings.ContainsAny(k, "?#") {
				signed := f.must(f.do("POST", "/object/sign/u/"+escapeKey(k), f.service, map[string]any{"expiresIn": 60}), 200).json(t)["signedURL"].(string)
				if !strings.HasPrefix(signed, "/object/sign/u/"+k+"?token=") {
					t.Fatalf("signedURL %q", signed)
				}
				if got := f.must(f.do("GET", encodeURI(signed), "", nil), 200).body; string(got) != "body of "+k {
					t.Fatalf("signed download %q: %q", k, got)
				}
			}
			up := f.must(f.do("POST", "/object/upload/sign/u/"+escapeKey("up/"+k), f.service, map[string]any{}), 200).json(t)["token"].(string)
			r := f.must(f.do("PUT", "/object/upload/sign/u/"+escapeKey("up/"+k)+"?token="+url.QueryEscape(up), "", "signed "+k, "Content-Type", "text/plain"), 200).json(t)
			if r["Key"] != "u/up/"+k {
				t.Fatalf("signed upload Key %q", r["Key"])
			}
			f.must(f.do("POST", "/object/copy", f.service, map[string]any{"bucketId": "u", "sourceKey": k, "destinationKey": "copy/" + k}), 200)
			f.must(f.do("POST", "/object/move", f.service, map[string]any{"bucketId": "u", "sourceKey": "copy/" + k, "destinationKey": "moved/" + k}), 200)
			if got := f.must(f.do("GET", "/object/u/"+escapeKey("moved/"+k), f.service, nil), 200).body; string(got) != "body of "+k {
				t.Fatalf("moved download %q: %q", k, got)
			}
		})
	}
	f.t = t
	var flat struct {
		Objects []struct{ Name string } `json:"objects"`
	}
	mustJSON(t, f.must(f.do("POST", "/object/list-v2/u", f.service, map[string]any{"prefix": "moved/", "limit": 100}), 200).body, &flat)
	var got []string
	for _, o := range flat.Objects {
		got = append(got, strings.TrimPrefix(o.Name, "moved/"))
	}
	want := slices.Clone(unicodeNames)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("list-v2 names\n got %q\nwant %q", got, want)
	}
	var v1 []map[string]any
	mustJSON(t, f.must(f.do("POST", "/object/list/u", f.service, map[string]any{"prefix": "café"}), 200).body, &v1)
	if len(v1) != 1 || v1[0]["name"] != "naïve résumé.txt" {
		t.Fatalf("list v1 café: %v", v1)
	}
}

// TestKeyDecodedOnce: path parameters are percent-decoded exactly once; what does not
// decode, or decodes to a name that cannot be stored, is InvalidKey.
func TestKeyDecodedOnce(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("d", nil)
	f.must(f.do("POST", "/object/d/a%252Fb", f.service, "literal", "Content-Type", "text/plain"), 200)
	f.must(f.do("POST", "/object/d/a%2Fb", f.service, "slash", "Content-Type", "text/plain"), 200)
	if got := f.must(f.do("GET", "/object/d/a/b", f.service, nil), 200).body; string(got) != "slash" {
		t.Fatalf("a/b: %q", got)
	}
	if got := f.must(f.do("GET", "/object/d/a%252Fb", f.service, nil), 200).body; string(got) != "literal" {
		t.Fatalf("a%%2Fb: %q", got)
	}
	if got := f.must(f.do("GET", "/object/info/d/a%252Fb", f.service, nil), 200).json(t); got["name"] != "a%2Fb" {
		t.Fatalf("info name %q", got["name"])
	}
	for _, p := range []string{"a%00b", "a%0Ab", "a%09b", "caf%E9", "a%7Fb", "a%C2%85b", "a/%2E%2E/b"} {
		f.checkError(f.do("POST", "/object/d/"+p, f.service, "x", "Content-Type", "text/plain"), envelope{400, "400", "InvalidKey", ""})
	}
}

// TestDownloadNameRFC5987: a non-ASCII ?download name goes out percent-encoded in both
// filename and filename* (UTF-8), as the reference sends it.
func TestDownloadNameRFC5987(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("n", nil)
	f.put("n", escapeKey("日本語.txt"), "x")
	r := f.must(f.do("GET", "/object/n/"+escapeKey("日本語.txt")+"?download="+url.QueryEscape("résumé 1.txt"), f.service, nil), 200)
	want := "attachment; filename=r%C3%A9sum%C3%A9%201.txt; filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt"
	if got := r.header.Get("Content-Disposition"); got != want {
		t.Fatalf("Content-Disposition %q, want %q", got, want)
	}
}

// TestListUnstorableStrings: list prefixes and searches that hold NUL are a 400, never a
// 500.
func TestListUnstorableStrings(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("l", nil)
	for _, tc := range []struct {
		path string
		body map[string]any
	}{
		{"/object/list/l", map[string]any{"prefix": "a\x00"}},
		{"/object/list/l", map[string]any{"prefix": "", "search": "\x00"}},
		{"/object/list-v2/l", map[string]any{"prefix": "a\x00"}},
		{"/object/list-v2/l", map[string]any{"prefix": "a\x00", "with_delimiter": true}},
		{"/object/list-v2/l", map[string]any{"prefix": "a\x00", "with_delimiter": true, "sortBy": map[string]any{"column": "created_at"}}},
	} {
		f.checkError(f.do("POST", tc.path, f.service, tc.body), envelope{400, "400", "InvalidRequest", ""})
	}
}
