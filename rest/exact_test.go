package rest

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// TestParseSizeString pins the reference's file_size_limit strings: 3 significant digits
// (JavaScript's toPrecision, halves up), decimal units, whole bytes, nothing else accepted.
func TestParseSizeString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64 // -1: InvalidRequest
	}{
		{"1MB", 1000000},
		{"20gb", 20000000000},
		{"30KB", 30000},
		{"3B", 3},
		{"100", 100},
		{"1.2345GB", 1230000000},
		{"123456789B", 123000000},
		{"1.999MB", 2000000},
		{"10.25MB", 10300000}, // a tie in binary too: toPrecision rounds it up
		{"1.005KB", 1000},     // 1.005 is 1.00499… as a double
		{"999.5B", 1000},
		{"0.5B", 1},
		{"0.0004KB", 0},
		{"20 MB", -1},
		{" 20MB", -1},
		{"1TB", -1},
		{"1e3MB", -1},
		{"5 parsecs", -1},
		{"-1", -1},
		{"+5", -1},
		{"MB", -1},
		{"", -1},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSizeString(tc.in)
			if tc.want < 0 {
				ae, ok := err.(*apiError)
				if !ok || ae.StatusCode != "400" || ae.Code != "InvalidRequest" || ae.Message != sizeFormatMessage {
					t.Fatalf("got %d, %v; want the size format error", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseFileSizeLimitNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		want int64 // -1: error
	}{
		{`1000`, 1000}, {`1e3`, 1000}, {`0`, 0}, {`1.5`, -1}, {`-1`, -1}, {`"1.5MB"`, 1500000}, {`"-1"`, -1},
	} {
		got, err := parseFileSizeLimit(json.RawMessage(tc.raw))
		if (tc.want < 0) != (err != nil) || tc.want >= 0 && got != tc.want {
			t.Errorf("%s: got %d, %v; want %d", tc.raw, got, err, tc.want)
		}
	}
}

func TestOmitBucketType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, clientInfo, userAgent string
		omit                        bool
	}{
		{"no headers", "", "", false},
		{"storage-js", "storage-js/2.109.0", "node", false},
		{"supabase-py 2.17.9", "supabase-py/2.17.9", "", true},
		{"supabase-py 1.99.0", "supabase-py/1.99.0", "", true},
		{"supabase-py 2.18.0", "supabase-py/2.18.0", "", false},
		{"supabase-py 3.0.0", "supabase-py/3.0.0", "", false},
		{"upper case", "Supabase-Py/2.3.4", "", true},
		{"storage3 0.12.0", "", "supabase-py/storage3 v0.12.0", true},
		{"storage3 0.11.9", "", "supabase-py/storage3 v0.11.9", true},
		{"storage3 0.12.1", "", "supabase-py/storage3 v0.12.1", false},
		{"storage3 in X-Client-Info", "supabase-py/storage3 v0.11.0", "", false},
	} {
		if got := omitBucketType(tc.clientInfo, tc.userAgent); got != tc.omit {
			t.Errorf("%s: omit %v, want %v", tc.name, got, tc.omit)
		}
	}
}

// TestReferenceAnswers pins answers where Stowage once named things its own way.
func TestReferenceAnswers(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("exact", nil)
	f.put("exact", "a.txt", "a")
	f.put("exact", "b.txt", "b")

	t.Run("bucket type for old python clients", func(t *testing.T) {
		f.t = t
		for _, tc := range []struct {
			headers []string
			want    bool
		}{
			{nil, true},
			{[]string{"X-Client-Info", "supabase-py/2.17.0"}, false},
			{[]string{"User-Agent", "supabase-py/storage3 v0.12.0"}, false},
			{[]string{"X-Client-Info", "supabase-py/2.18.0"}, true},
		} {
			var list []map[string]any
			mustJSON(t, f.must(f.do("GET", "/bucket", f.service, nil, tc.headers...), 200).body, &list)
			if len(list) != 1 {
				t.Fatalf("%v: %v", tc.headers, list)
			}
			if _, has := list[0]["type"]; has != tc.want {
				t.Fatalf("%v: type present %v, want %v: %v", tc.headers, has, tc.want, list[0])
			}
		}
	})
	t.Run("file size limit strings", func(t *testing.T) {
		f.t = t
		f.bucket("sized", map[string]any{"file_size_limit": "1.2345MB"})
		b := f.must(f.do("GET", "/bucket/sized", f.service, nil), 200).json(t)
		if b["file_size_limit"] != float64(1230000) {
			t.Fatalf("limit %v", b["file_size_limit"])
		}
	})
	t.Run("analytics bucket", func(t *testing.T) {
		f.t = t
		f.checkError(f.do("POST", "/bucket", f.service, map[string]any{"name": "lake", "type": "ANALYTICS"}),
			envelope{400, "409", "FeatureNotEnabled", "The feature Iceberg buckets are not enabled for this tenant is not enabled for this resource"})
	})
	t.Run("move onto an existing key", func(t *testing.T) {
		f.t = t
		f.checkError(f.do("POST", "/object/move", f.service, map[string]any{"bucketId": "exact", "sourceKey": "a.txt", "destinationKey": "b.txt"}),
			envelope{400, "409", "ResourceAlreadyExists", "The resource already exists"})
	})
	for _, route := range []string{"copy", "move"} {
		t.Run(route+" into a missing bucket", func(t *testing.T) {
			f.t = t
			r := f.do("POST", "/object/"+route, f.service, map[string]any{"bucketId": "exact", "sourceKey": "a.txt", "destinationKey": "x.txt", "destinationBucket": "nowhere"})
			f.checkError(r, envelope{400, "404", "InvalidRequest", "The related resource does not exist"})
			if e := r.json(t); e["error"] != "InvalidRequest" {
				t.Fatalf("error tag %v", e["error"])
			}
		})
	}
	t.Run("cdn routes outside the cdn dialect", func(t *testing.T) {
		// The purge routes are the cdn package's (tested there); without it mounted, /cdn
		// still answers the reference's unknown-route envelope.
		f.t = t
		f.checkError(f.do("GET", "/cdn/exact", f.service, nil), envelope{404, "404", "InvalidRequest", "Route GET:/cdn/exact not found"})
	})
	t.Run("unknown routes", func(t *testing.T) {
		f.t = t
		for _, tc := range []struct {
			method, path, want string
		}{
			{"GET", "/foo", `{"message":"Route GET:/foo not found","error":"Not Found","statusCode":404}`},
			{"GET", "/storage/v1/foo?x=1", `{"message":"Route GET:/foo?x=1 not found","error":"Not Found","statusCode":404}`},
			{"POST", "/health", `{"message":"Route POST:/health not found","error":"Not Found","statusCode":404}`},
			{"GET", "/storage/v1/object/x", `{"statusCode":"404","error":"Not Found","message":"Route GET:/object/x not found","code":"InvalidRequest"}`},
			{"PATCH", "/bucket", `{"statusCode":"404","error":"Not Found","message":"Route PATCH:/bucket not found","code":"InvalidRequest"}`},
			{"DELETE", "/storage/v1/bucket/x/y?z", `{"statusCode":"404","error":"Not Found","message":"Route DELETE:/bucket/x/y?z not found","code":"InvalidRequest"}`},
		} {
			r := f.do(tc.method, tc.path, "", nil)
			if r.status != 404 || string(r.body) != tc.want {
				t.Errorf("%s %s: %d %s, want 404 %s", tc.method, tc.path, r.status, r.body, tc.want)
			}
		}
		if r := f.do("HEAD", "/foo", "", nil); r.status != 404 || len(r.body) != 0 {
			t.Errorf("HEAD /foo: %d %q", r.status, r.body)
		}
	})
}

// TestListV2FolderCursor: with a timestamp sort the cursor names a folder as the reference
// does ("dir/"), and the next page still holds the entries of the same millisecond that
// sort between "dir" and "dir/" (the reference's own cursor skips them).
func TestListV2FolderCursor(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("cur", nil)
	for _, k := range []string{"p/dir/x.txt", "p/dir-a.txt", "p/z.txt"} {
		f.put("cur", k, "x")
	}
	f.sql(`update storage.objects set created_at = '2026-01-02T03:04:05.678Z', updated_at = '2026-01-02T03:04:05.678Z' where bucket_id = 'cur'`)
	body := map[string]any{"prefix": "p/", "with_delimiter": true, "limit": 1, "sortBy": map[string]any{"column": "created_at", "order": "asc"}}
	var names []string
	for range 5 {
		var page struct {
			HasNext       bool   `json:"hasNext"`
			NextCursor    string `json:"nextCursor"`
			NextCursorKey string `json:"nextCursorKey"`
			Folders       []struct {
				Name string `json:"name"`
			} `json:"folders"`
			Objects []struct {
				Name string `json:"name"`
			} `json:"objects"`
		}
		mustJSON(t, f.must(f.do("POST", "/object/list-v2/cur", f.service, body), 200).body, &page)
		for _, e := range page.Folders {
			names = append(names, e.Name)
		}
		for _, e := range page.Objects {
			names = append(names, e.Name)
		}
		if len(names) == 1 {
			raw, _ := base64.StdEncoding.DecodeString(page.NextCursor)
			if page.NextCursorKey != "p/dir/" || string(raw) != "l:p/dir/\no:asc\nc:created_at\na:2026-01-02T03:04:05.678Z" {
				t.Fatalf("first page cursor %q (%q), key %q", page.NextCursor, raw, page.NextCursorKey)
			}
		}
		if !page.HasNext {
			break
		}
		body["cursor"] = page.NextCursor
	}
	if got := names; len(got) != 3 || got[0] != "p/dir/" || got[1] != "p/dir-a.txt" || got[2] != "p/z.txt" {
		t.Fatalf("pages %q", got)
	}
}

// TestKeyPercentDecoding: key paths are percent-decoded exactly once (%20 is a space, %2F a
// "/", "+" stays "+"), as the reference's router does, and answers name the decoded key.
func TestKeyPercentDecoding(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("enc", nil)
	up := f.must(f.do("POST", "/object/enc/a%2Fb%20c+d.txt", f.service, "x", "Content-Type", "text/plain"), 200).json(t)
	if up["Key"] != "enc/a/b c+d.txt" {
		t.Fatalf("upload %v", up)
	}
	if info := f.must(f.do("GET", "/object/info/enc/a/b%20c+d.txt", f.service, nil), 200).json(t); info["name"] != "a/b c+d.txt" {
		t.Fatalf("info %v", info)
	}
	if got := f.must(f.do("GET", "/object/enc/a%2fb%20c%2Bd.txt", f.service, nil), 200); string(got.body) != "x" {
		t.Fatalf("download %q", got.body)
	}
	// Decoded once: %2520 is the key "a%20b" (a literal "%20"), not "a b".
	f.must(f.do("POST", "/object/enc/a%2520b", f.service, "y", "Content-Type", "text/plain"), 200)
	if got := f.must(f.do("GET", "/object/enc/a%2520b", f.service, nil), 200); string(got.body) != "y" {
		t.Fatalf("download of a%%20b: %q", got.body)
	}
	signed := f.must(f.do("POST", "/object/sign/enc/a/b%20c+d.txt", f.service, map[string]any{"expiresIn": 60}), 200).json(t)
	u, _ := signed["signedURL"].(string)
	if len(u) < 30 || u[:30] != "/object/sign/enc/a/b c+d.txt?t" {
		t.Fatalf("signedURL %q", u)
	}
	// storage-js applies encodeURI to the signed URL: the space is sent as %20.
	if got := f.must(f.do("GET", "/object/sign/enc/a/b%20c+d.txt"+u[len("/object/sign/enc/a/b c+d.txt"):], "", nil), 200); string(got.body) != "x" {
		t.Fatalf("signed download %q", got.body)
	}
}
