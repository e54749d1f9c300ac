package rest

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestListing(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("l", nil)
	for _, k := range []string{"a.txt", "B.txt", "dir/x.txt", "dir/y/z.txt", "dir2/q.txt", "folder/hello.txt", "folder/sub/c.png", "u_x.txt", "uax.txt"} {
		f.put("l", k, "x")
	}
	names := func(entries []map[string]any) string {
		var out []string
		for _, e := range entries {
			n := e["name"].(string)
			if e["id"] == nil {
				n += "(dir)"
			}
			out = append(out, n)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"storage-js default", map[string]any{"limit": 100, "offset": 0, "sortBy": map[string]any{"column": "name", "order": "asc"}, "prefix": ""},
			"[a.txt B.txt dir(dir) dir2(dir) folder(dir) u_x.txt uax.txt]"},
		{"sub folder without slash", map[string]any{"prefix": "dir"}, "[x.txt y(dir)]"},
		{"search prefix case-insensitive", map[string]any{"prefix": "", "search": "D"}, "[dir(dir) dir2(dir)]"},
		{"desc with offset and limit", map[string]any{"prefix": "", "limit": "2", "offset": 1, "sortBy": map[string]any{"column": "name", "order": "desc"}}, "[u_x.txt folder(dir)]"},
		{"timestamp sort puts folders first", map[string]any{"prefix": "folder/", "sortBy": map[string]any{"column": "created_at", "order": "desc"}}, "[sub(dir) hello.txt]"},
		{"literal underscore in timestamp mode", map[string]any{"prefix": "", "search": "u_", "sortBy": map[string]any{"column": "updated_at"}}, "[u_x.txt]"},
		{"missing bucket is empty", map[string]any{"prefix": ""}, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			bucket := "l"
			if tc.name == "missing bucket is empty" {
				bucket = "nope"
			}
			var got []map[string]any
			mustJSON(t, f.must(f.do("POST", "/object/list/"+bucket, f.service, tc.body), 200).body, &got)
			if names(got) != tc.want {
				t.Fatalf("got %s, want %s", names(got), tc.want)
			}
			for _, e := range got {
				if e["id"] == nil && (e["metadata"] != nil || e["updated_at"] != nil) {
					t.Fatalf("folder with data: %v", e)
				}
				if e["id"] != nil && e["metadata"] == nil {
					t.Fatalf("file without metadata: %v", e)
				}
			}
		})
	}

	type page struct {
		HasNext    bool             `json:"hasNext"`
		NextCursor *string          `json:"nextCursor"`
		Folders    []map[string]any `json:"folders"`
		Objects    []map[string]any `json:"objects"`
	}
	walk := func(t *testing.T, body map[string]any) []string {
		var seen []string
		for i := 0; i < 20; i++ {
			var p page
			mustJSON(t, f.must(f.do("POST", "/object/list-v2/l", f.service, body), 200).body, &p)
			for _, e := range p.Folders {
				seen = append(seen, fmt.Sprintf("%s(%v)", e["name"], e["key"]))
			}
			for _, e := range p.Objects {
				s := e["name"].(string)
				if k, ok := e["key"]; ok {
					s += fmt.Sprintf("(%v)", k)
				}
				seen = append(seen, s)
			}
			if !p.HasNext {
				if p.NextCursor != nil {
					t.Fatal("nextCursor present on the last page")
				}
				return seen
			}
			body["cursor"] = *p.NextCursor
		}
		t.Fatal("pagination did not end")
		return nil
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"delimiter pages of two", map[string]any{"with_delimiter": true, "limit": 2},
			"[B.txt(B.txt) a.txt(a.txt) dir/(dir) dir2/(dir2) folder/(folder) u_x.txt(u_x.txt) uax.txt(uax.txt)]"},
		{"delimiter under prefix", map[string]any{"with_delimiter": true, "prefix": "folder/", "limit": 1},
			"[folder/hello.txt(hello.txt) folder/sub/(sub)]"},
		{"flat", map[string]any{"prefix": "folder/", "limit": 1}, "[folder/hello.txt folder/sub/c.png]"},
		{"flat desc", map[string]any{"prefix": "dir", "limit": 2, "sortBy": map[string]any{"column": "name", "order": "desc"}},
			"[dir2/q.txt dir/y/z.txt dir/x.txt]"},
		{"flat by created_at", map[string]any{"prefix": "folder/", "limit": 1, "sortBy": map[string]any{"column": "created_at", "order": "asc"}},
			"[folder/hello.txt folder/sub/c.png]"},
		{"delimiter by updated_at", map[string]any{"prefix": "folder/", "with_delimiter": true, "limit": 1, "sortBy": map[string]any{"column": "updated_at", "order": "asc"}},
			"[folder/hello.txt(hello.txt) folder/sub/(sub)]"},
	} {
		t.Run("v2 "+tc.name, func(t *testing.T) {
			f.t = t
			if got := fmt.Sprint(walk(t, tc.body)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestJSONBodyCap checks JSON bodies are refused past the cap (1 MiB by default).
func TestJSONBodyCap(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	big := `{"prefix":"` + strings.Repeat("a", 1<<20) + `"}`
	want := envelope{413, "413", "EntityTooLarge", "Request body is too large"}
	f.checkError(f.do("POST", "/object/list/any", f.service, big, "Content-Type", "application/json"), want)
	// Chunked: no Content-Length to refuse up front, so the cap holds while reading.
	chunked := io.MultiReader(strings.NewReader(big))
	f.checkError(f.do("POST", "/object/list/any", f.service, chunked, "Content-Type", "application/json"), want)
	// Under the cap, a chunked body is read as usual.
	f.bucket("capped", nil)
	small := io.MultiReader(strings.NewReader(`{"prefix":""}`))
	if r := f.must(f.do("POST", "/object/list/capped", f.service, small, "Content-Type", "application/json"), 200); string(r.body) != "[]" {
		t.Fatalf("list %s", r.body)
	}
}
