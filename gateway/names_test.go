package gateway

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestListingPrefixesAreLiteral: keys holding LIKE wildcards (%, _) and its escape (\) list
// exactly under every listing a prefix drives: S3 ListObjects, REST list v1 (folder and
// search), list v2 by name, by timestamp and flat.
func TestListingPrefixesAreLiteral(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "w")
	keys := []string{"a%b/1", "a_b/2", "axb/3", `a\b/4`, "aXb/5", "a%/6", "A%b/7", "café/8", "cafe/9", "a_/10"}
	for _, k := range keys {
		if _, err := f.put(t, service(), "w", k, []byte(k), false); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	s3 := func(prefix, delim string) []string {
		t.Helper()
		r, err := f.e.ListObjects(ctx, service(), ListObjects{Bucket: "w", Prefix: prefix, Delimiter: delim})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range r.Objects {
			out = append(out, o.Key)
		}
		return append(out, r.CommonPrefixes...)
	}
	v1 := func(prefix, search string) []string {
		t.Helper()
		es, err := f.e.ListFolder(ctx, service(), ListFolder{Bucket: "w", Prefix: prefix, Search: search, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		slices.Sort(out)
		return out
	}
	v2 := func(prefix, sort string, delim bool) []string {
		t.Helper()
		r, err := f.e.ListV2(ctx, service(), ListV2{Bucket: "w", Prefix: prefix, SortColumn: sort, Delimiter: delim, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range append(r.Folders, r.Objects...) {
			out = append(out, e.Name)
		}
		slices.Sort(out)
		return out
	}
	cases := []struct {
		name string
		got  []string
		want string
	}{
		{"s3 percent", s3("a%", ""), "a%/6,a%b/1"},
		{"s3 underscore", s3("a_", ""), "a_/10,a_b/2"},
		{"s3 backslash", s3(`a\`, ""), `a\b/4`},
		{"s3 underscore delimiter", s3("a_", "/"), "a_/,a_b/"},
		{"s3 unicode", s3("caf", "/"), "cafe/,café/"},
		{"v1 folder underscore", v1("a_b", ""), "2"},
		{"v1 folder percent", v1("a%", ""), "6"},
		// The reference's search is case-insensitive (ILIKE), wildcards stay literal.
		{"v1 search percent", v1("", "a%"), "A%b,a%,a%b"},
		{"v1 search underscore", v1("", "a_"), "a_,a_b"},
		{"v1 search backslash", v1("", `a\`), `a\b`},
		{"v2 name underscore", v2("a_", "name", true), "a_/,a_b/"},
		{"v2 name percent", v2("a%", "name", true), "a%/,a%b/"},
		{"v2 created_at underscore", v2("a_", "created_at", true), "a_/,a_b/"},
		{"v2 updated_at percent", v2("a%", "updated_at", true), "a%/,a%b/"},
		{"v2 created_at backslash", v2(`a\`, "created_at", true), `a\b/`},
		{"v2 flat underscore", v2("a_", "name", false), "a_/10,a_b/2"},
		{"v2 flat percent by time", v2("a%", "created_at", false), "a%/6,a%b/1"},
	}
	for _, tc := range cases {
		if got := strings.Join(tc.got, ","); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
