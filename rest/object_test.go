package rest

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBucketRoutes(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("alpha", map[string]any{"public": true, "file_size_limit": "1MB", "allowed_mime_types": []string{"image/*", ""}})
	f.bucket("beta_1", map[string]any{"id": "beta_1", "public": "true", "file_size_limit": 100})
	f.bucket("gamma", nil)

	t.Run("get", func(t *testing.T) {
		f.t = t
		b := f.must(f.do("GET", "/bucket/alpha", f.service, nil), 200).json(t)
		if b["id"] != "alpha" || b["public"] != true || b["file_size_limit"] != float64(1000000) || b["owner"] != "" {
			t.Fatalf("bucket %v", b)
		}
		if _, ok := b["type"]; ok {
			t.Fatal("GET /bucket/{id} must not carry type")
		}
		if m := b["allowed_mime_types"].([]any); len(m) != 1 || m[0] != "image/*" {
			t.Fatalf("mime types %v", m)
		}
	})
	t.Run("list", func(t *testing.T) {
		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"sorted desc", "?sortColumn=name&sortOrder=desc", []string{"gamma", "beta_1", "alpha"}},
			{"limit offset", "?sortColumn=name&limit=1&offset=1", []string{"beta_1"}},
			{"search is literal", "?search=a_1", []string{"beta_1"}},
			{"search underscore not a wildcard", "?search=ta_", []string{"beta_1"}},
			{"search case-insensitive", "?search=GAM", []string{"gamma"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f.t = t
				r := f.must(f.do("GET", "/storage/v1/bucket"+tc.query, f.service, nil), 200)
				var got []map[string]any
				mustJSON(t, r.body, &got)
				var names []string
				for _, b := range got {
					names = append(names, b["name"].(string))
					if b["type"] != "STANDARD" {
						t.Fatalf("type %v", b["type"])
					}
				}
				if fmt.Sprint(names) != fmt.Sprint(tc.want) {
					t.Fatalf("got %v, want %v", names, tc.want)
				}
			})
		}
	})
	t.Run("update", func(t *testing.T) {
		f.t = t
		f.must(f.do("PUT", "/bucket/gamma", f.service, map[string]any{"id": "gamma", "name": "gamma", "public": true, "file_size_limit": nil, "allowed_mime_types": []string{"text/plain"}}), 200)
		b := f.must(f.do("GET", "/bucket/gamma", f.service, nil), 200).json(t)
		if b["public"] != true || b["file_size_limit"] != nil {
			t.Fatalf("bucket %v", b)
		}
		f.checkError(f.do("POST", "/object/gamma/a.png", f.service, "x", "Content-Type", "image/png"), envelope{400, "415", "InvalidMimeType", ""})
	})
	t.Run("empty then delete", func(t *testing.T) {
		f.t = t
		f.put("gamma", "a.txt", "a")
		f.put("gamma", "d/b.txt", "b")
		r := f.must(f.do("POST", "/bucket/gamma/empty", f.service, map[string]any{}), 200).json(t)
		if r["message"] != "Empty bucket has been queued. Completion may take up to an hour." {
			t.Fatalf("%v", r)
		}
		f.must(f.do("DELETE", "/bucket/gamma", f.service, map[string]any{}), 200)
		f.checkError(f.do("GET", "/bucket/gamma", f.service, nil), envelope{400, "404", "NoSuchBucket", ""})
	})
	t.Run("empty refuses too many objects", func(t *testing.T) {
		f.t = t
		for i := range 6 {
			f.put("beta_1", fmt.Sprintf("o%d", i), "x")
		}
		f.checkError(f.do("POST", "/bucket/beta_1/empty", f.service, nil), envelope{400, "409", "InvalidRequest", "Unable to empty the bucket because it contains too many objects"})
	})
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := jsonUnmarshal(data, v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}

func TestUploadAndDownload(t *testing.T) {
	f := newFixture(t, fixtureOptions{sMaxAge: 60})
	f.bucket("pub", map[string]any{"public": true})
	f.bucket("files", nil)
	meta := base64.StdEncoding.EncodeToString([]byte(`{"a":"b"}`))
	r := f.must(f.do("POST", "/object/files/dir/hello.txt", f.service, "hello world", "Content-Type", "text/plain",
		"Cache-Control", "max-age=3600", "x-metadata", meta), 200).json(t)
	if r["Key"] != "files/dir/hello.txt" || r["Id"] == "" {
		t.Fatalf("%v", r)
	}
	etag := `"` + hexMD5("hello world") + `"`
	f.put("pub", "page.html", "<script>alert(1)</script>", "Content-Type", "text/html")
	f.must(f.do("POST", "/object/pub/pic.svg", f.service, "<svg/>", "Content-Type", "image/svg+xml"), 200)

	t.Run("upsert rules", func(t *testing.T) {
		f.t = t
		f.checkError(f.do("POST", "/object/files/dir/hello.txt", f.service, "x", "x-upsert", "TRUE"), envelope{400, "409", "KeyAlreadyExists", ""})
		f.must(f.do("POST", "/object/files/up.txt", f.service, "v1"), 200)
		f.must(f.do("POST", "/object/files/up.txt", f.service, "v2", "x-upsert", "true"), 200)
		f.must(f.do("PUT", "/object/files/up.txt", f.service, "v3"), 200)
		f.must(f.do("PUT", "/object/files/new-by-put.txt", f.service, "v1"), 200)
		if got := f.must(f.do("GET", "/object/files/up.txt", f.service, nil), 200).body; string(got) != "v3" {
			t.Fatalf("got %q", got)
		}
	})
	cases := []struct {
		name       string
		path, key  string
		headers    []string
		status     int
		body       string
		wantHeader map[string]string
	}{
		{"authenticated get", "/object/authenticated/files/dir/hello.txt", "svc", nil, 200, "hello world",
			map[string]string{"Content-Type": "text/plain", "ETag": etag, "Cache-Control": "max-age=3600", "Accept-Ranges": "bytes", "X-Robots-Tag": "none", "Content-Length": "11"}},
		{"storage-js download route", "/storage/v1/object/files/dir/hello.txt", "svc", nil, 200, "hello world", nil},
		{"public without token", "/object/public/pub/page.html", "", nil, 200, "<script>alert(1)</script>", map[string]string{"Content-Type": "text/plain"}},
		{"optional route on public bucket", "/object/pub/page.html", "", nil, 200, "<script>alert(1)</script>", nil},
		{"svg gets a csp", "/object/public/pub/pic.svg", "", nil, 200, "<svg/>", map[string]string{"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox"}},
		{"range", "/object/files/dir/hello.txt", "svc", []string{"Range", "bytes=0-4"}, 206, "hello", map[string]string{"Content-Range": "bytes 0-4/11", "Content-Length": "5"}},
		{"suffix range", "/object/files/dir/hello.txt", "svc", []string{"Range", "bytes=-5"}, 206, "world", map[string]string{"Content-Range": "bytes 6-10/11"}},
		{"open range", "/object/files/dir/hello.txt", "svc", []string{"Range", "bytes=6-"}, 206, "world", nil},
		{"range end clamped", "/object/files/dir/hello.txt", "svc", []string{"Range", "bytes=6-100"}, 206, "world", nil},
		{"if-none-match hit", "/object/files/dir/hello.txt", "svc", []string{"If-None-Match", etag}, 304, "", map[string]string{"ETag": etag, "Cache-Control": "max-age=3600, s-maxage=60"}},
		{"if-none-match miss", "/object/files/dir/hello.txt", "svc", []string{"If-None-Match", `"other"`}, 200, "hello world", map[string]string{"Cache-Control": "max-age=3600, stale-while-revalidate=30, s-maxage=60"}},
		{"if-modified-since hit", "/object/files/dir/hello.txt", "svc", []string{"If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, 304, "", nil},
		{"if-modified-since miss", "/object/files/dir/hello.txt", "svc", []string{"If-Modified-Since", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}, 200, "hello world", nil},
		{"download empty", "/object/files/dir/hello.txt?download", "svc", nil, 200, "hello world", map[string]string{"Content-Disposition": "attachment;"}},
		{"download named", "/object/files/dir/hello.txt?download=my%20file%27s%C3%A9.txt", "svc", nil, 200, "hello world",
			map[string]string{"Content-Disposition": "attachment; filename=my%20file's%C3%A9.txt; filename*=UTF-8''my%20file's%C3%A9.txt"}},
		{"apikey header alone", "/object/authenticated/files/dir/hello.txt", "apikey", nil, 200, "hello world", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			key, headers := tc.key, tc.headers
			switch key {
			case "svc":
				key = f.service
			case "apikey":
				key, headers = "", append([]string{"apikey", f.service}, headers...)
			}
			r := f.must(f.do("GET", tc.path, key, nil, headers...), tc.status)
			if string(r.body) != tc.body {
				t.Fatalf("body %q, want %q", r.body, tc.body)
			}
			for k, v := range tc.wantHeader {
				if got := r.header.Get(k); got != v {
					t.Fatalf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
	t.Run("head", func(t *testing.T) {
		f.t = t
		r := f.must(f.do("HEAD", "/object/files/dir/hello.txt", f.service, nil, "If-None-Match", `"x"`), 200)
		if len(r.body) != 0 || r.header.Get("ETag") != etag || r.header.Get("Cache-Control") != "max-age=3600, must-revalidate" {
			t.Fatalf("head: %v %q", r.header, r.body)
		}
		if r.header.Get("Content-Length") != "11" {
			t.Fatalf("content-length %q", r.header.Get("Content-Length"))
		}
		f.must(f.do("HEAD", "/object/files/missing.txt", f.service, nil), 400)
		f.must(f.do("HEAD", "/object/public/pub/pic.svg", "", nil), 200)
	})
	t.Run("info", func(t *testing.T) {
		for _, path := range []string{"/object/info/files/dir/hello.txt", "/object/info/authenticated/files/dir/hello.txt"} {
			f.t = t
			r := f.must(f.do("GET", path, f.service, nil), 200)
			m := r.json(t)
			if m["name"] != "dir/hello.txt" || m["bucket_id"] != "files" || m["size"] != float64(11) || m["etag"] != etag ||
				m["content_type"] != "text/plain" || m["cache_control"] != "max-age=3600" || fmt.Sprint(m["metadata"]) != "map[a:b]" {
				t.Fatalf("info %s", r.body)
			}
			if r.header.Get("ETag") != etag {
				t.Fatalf("etag header %q", r.header.Get("ETag"))
			}
		}
		f.must(f.do("GET", "/object/info/public/pub/pic.svg", "", nil), 200)
		f.checkError(f.do("GET", "/object/info/public/files/dir/hello.txt", "", nil), envelope{400, "404", "NoSuchBucket", ""})
	})
	t.Run("copy and move", func(t *testing.T) {
		f.t = t
		r := f.must(f.do("POST", "/object/copy", f.service, map[string]any{"bucketId": "files", "sourceKey": "dir/hello.txt", "destinationKey": "copy.txt", "destinationBucket": "pub"}), 200).json(t)
		if r["Key"] != "pub/copy.txt" || r["name"] != "copy.txt" || r["bucket_id"] != "pub" || fmt.Sprint(r["user_metadata"]) != "map[a:b]" {
			t.Fatalf("copy %v", r)
		}
		got := f.must(f.do("GET", "/object/public/pub/copy.txt", "", nil), 200)
		if string(got.body) != "hello world" || got.header.Get("Cache-Control") != "max-age=3600" {
			t.Fatalf("copied %q %v", got.body, got.header)
		}
		f.must(f.do("POST", "/object/copy", f.service, map[string]any{"bucketId": "files", "sourceKey": "dir/hello.txt", "destinationKey": "copy.txt",
			"destinationBucket": "pub", "copyMetadata": false, "metadata": map[string]any{"cacheControl": "no-store"}}, "x-upsert", "true"), 200)
		info := f.must(f.do("GET", "/object/info/pub/copy.txt", f.service, nil), 200).json(t)
		if info["cache_control"] != "no-store" || info["content_type"] != "text/plain" || info["metadata"] != nil {
			t.Fatalf("copy without metadata: %v", info)
		}
		f.checkError(f.do("POST", "/object/move", f.service, map[string]any{"bucketId": "pub", "sourceKey": "copy.txt", "destinationKey": "page.html"}), envelope{400, "409", "ResourceAlreadyExists", "The resource already exists"})
		m := f.must(f.do("POST", "/object/move", f.service, map[string]any{"bucketId": "pub", "sourceKey": "copy.txt", "destinationKey": "moved/c.txt", "destinationBucket": "files"}), 200).json(t)
		if m["message"] != "Successfully moved" {
			t.Fatalf("%v", m)
		}
		f.must(f.do("GET", "/object/files/moved/c.txt", f.service, nil), 200)
		f.checkError(f.do("GET", "/object/pub/copy.txt", f.service, nil), envelope{400, "404", "NoSuchKey", ""})
	})
	t.Run("delete", func(t *testing.T) {
		f.t = t
		f.must(f.do("DELETE", "/object/files/moved/c.txt", f.service, nil), 200)
		var rows []map[string]any
		mustJSON(t, f.must(f.do("DELETE", "/object/files", f.service, map[string]any{"prefixes": []string{"up.txt", "nope", "new-by-put.txt"}}), 200).body, &rows)
		if len(rows) != 2 || rows[0]["bucket_id"] != "files" || rows[0]["owner_id"] != "" {
			t.Fatalf("deleted %v", rows)
		}
		f.must(f.do("DELETE", "/object/nobucket", f.service, map[string]any{"prefixes": []string{"a"}}), 200)
	})
}

func hexMD5(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

// formBody builds a browser-style multipart upload: fields first, then the file part, then
// a trailing field the server ignores. The test client sends it with a Content-Length; the
// server still streams it (the fixture's prefetch is 64 KiB).
func formBody(t *testing.T, fields [][2]string, fileType string, file io.Reader) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, kv := range fields {
		_ = mw.WriteField(kv[0], kv[1])
	}
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{`form-data; name=""; filename="blob"`}
	if fileType != "" {
		h["Content-Type"] = []string{fileType}
	}
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, file); err != nil {
		t.Fatal(err)
	}
	_ = mw.WriteField("afterFile", "ignored")
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func TestMultipartUpload(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("forms", nil)
	f.bucket("small", map[string]any{"file_size_limit": 1000, "allowed_mime_types": []string{"image/png"}})
	data := bytes.Repeat([]byte("0123456789abcdef"), 96<<10) // 1.5 MiB: streamed past the 64 KiB prefetch
	t.Run("large file part streams", func(t *testing.T) {
		f.t = t
		body, ct := formBody(t, [][2]string{{"cacheControl", "3600"}, {"metadata", `{"k":"v"}`}}, "application/octet-stream", bytes.NewReader(data))
		f.must(f.do("POST", "/object/forms/big.bin", f.service, body, "Content-Type", ct), 200)
		r := f.must(f.do("GET", "/object/forms/big.bin", f.service, nil), 200)
		if !bytes.Equal(r.body, data) {
			t.Fatalf("got %d bytes back, want %d", len(r.body), len(data))
		}
		info := f.must(f.do("GET", "/object/info/forms/big.bin", f.service, nil), 200).json(t)
		if info["cache_control"] != "max-age=3600" || info["content_type"] != "application/octet-stream" || fmt.Sprint(info["metadata"]) != "map[k:v]" {
			t.Fatalf("info %v", info)
		}
	})
	t.Run("contentType field overrides, default text/plain", func(t *testing.T) {
		f.t = t
		body, ct := formBody(t, [][2]string{{"contentType", "image/png"}}, "", strings.NewReader("png"))
		f.must(f.do("POST", "/object/small/a.png", f.service, body, "Content-Type", ct), 200)
		body, ct = formBody(t, nil, "", strings.NewReader("txt"))
		f.must(f.do("POST", "/object/forms/a.txt", f.service, body, "Content-Type", ct), 200)
		if got := f.must(f.do("GET", "/object/forms/a.txt", f.service, nil), 200).header.Get("Content-Type"); got != "text/plain" {
			t.Fatalf("content type %q", got)
		}
	})
	t.Run("mime checked at the file part", func(t *testing.T) {
		f.t = t
		body, ct := formBody(t, nil, "image/gif", strings.NewReader("gif"))
		f.checkError(f.do("POST", "/object/small/a.gif", f.service, body, "Content-Type", ct), envelope{400, "415", "InvalidMimeType", ""})
	})
	t.Run("size limit while streaming", func(t *testing.T) {
		f.t = t
		body, ct := formBody(t, nil, "image/png", bytes.NewReader(data))
		f.checkError(f.do("POST", "/object/small/big.png", f.service, body, "Content-Type", ct), envelope{400, "413", "EntityTooLarge", ""})
		f.checkError(f.do("GET", "/object/small/big.png", f.service, nil), envelope{400, "404", "NoSuchKey", ""})
	})
	t.Run("oversized metadata", func(t *testing.T) {
		f.t = t
		body, ct := formBody(t, [][2]string{{"metadata", `{"k":"` + strings.Repeat("m", 1<<20) + `"}`}}, "text/plain", strings.NewReader("x"))
		f.checkError(f.do("POST", "/object/forms/m.txt", f.service, body, "Content-Type", ct), envelope{400, "413", "EntityTooLarge", "The user_metadata exceeded the maximum allowed size"})
	})
}

// A conditional GET that can be a 304 is answered from the row, without opening the
// object's bytes (on the s3 store that would start and abort an upstream download); one
// that cannot reads them once.
func TestConditionalGetOpensNothingFor304(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{countOpens: true})
	f.must(f.do("POST", "/bucket", f.service, map[string]any{"name": "cond"}), 200)
	f.must(f.do("POST", "/object/cond/a.txt", f.service, "hello"), 200)
	etag := f.must(f.do("HEAD", "/object/cond/a.txt", f.service, nil), 200).header.Get("ETag")
	before := f.opens.Load()
	r := f.must(f.do("GET", "/object/cond/a.txt", f.service, nil, "If-None-Match", etag), 304)
	if r.header.Get("ETag") != etag || len(r.body) != 0 {
		t.Fatalf("304: ETag %q body %q", r.header.Get("ETag"), r.body)
	}
	f.must(f.do("GET", "/object/cond/a.txt", f.service, nil, "If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)), 304)
	if n := f.opens.Load() - before; n != 0 {
		t.Fatalf("304s opened the object %d times", n)
	}
	if got := f.must(f.do("GET", "/object/cond/a.txt", f.service, nil, "If-None-Match", `"other"`), 200).body; string(got) != "hello" {
		t.Fatalf("miss: %q", got)
	}
	if n := f.opens.Load() - before; n != 1 {
		t.Fatalf("a conditional miss opened the object %d times, want 1", n)
	}
}
