package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestListDelimiterPages lists a bucket that mixes folders and plain keys (runs of folders
// that the walk, db.ListWalk, jumps through) with a delimiter, page by page at several
// page sizes, and checks every page sequence against the listing computed from all names.
func TestListDelimiterPages(t *testing.T) {
	f := newFixture(t)
	f.bucket(t, "mix")
	ctx := context.Background()
	var names []string
	for i := range 40 {
		for j := range 3 {
			names = append(names, fmt.Sprintf("a/f%02d/k%d", i, j))
		}
	}
	for i := range 25 {
		names = append(names, fmt.Sprintf("a/p%02d", i))
	}
	for i := range 20 {
		names = append(names, fmt.Sprintf("a/q%02d/x", i), fmt.Sprintf("a/q%02d.txt", i))
	}
	names = append(names, "b/z", "a")
	if _, err := f.db.Pool().Exec(ctx, `insert into storage.objects (bucket_id, name, metadata, version)
		select 'mix', n, '{"size":1,"eTag":"\"e\""}', 'v' from unnest($1::text[]) n`, names); err != nil {
		t.Fatal(err)
	}
	// The expected entries of prefix "a/" with delimiter "/": each key, or its common prefix once.
	slices.Sort(names)
	var want []string
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, "a/")
		if !ok {
			continue
		}
		if i := strings.Index(rest, "/"); i >= 0 {
			n = "a/" + rest[:i+1]
		}
		if len(want) == 0 || want[len(want)-1] != n {
			want = append(want, n)
		}
	}
	for _, size := range []int{1, 2, 7, 16, 17, 33, 1000} {
		got := listAllPages(t, f, service(), ListObjects{Bucket: "mix", Prefix: "a/", Delimiter: "/", MaxKeys: size}, len(want))
		if !slices.Equal(got, want) {
			t.Fatalf("size %d:\n got %v\nwant %v", size, got, want)
		}
	}
}

// TestListWalkDelimiters: the walk from folder to folder inside Postgres (db.ListWalk) agrees
// with the listing computed in Go for delimiters of several characters and outside ASCII,
// common prefixes whose last character is U+D7FF (the next is U+E000) or U+10FFFF (no next
// character: the gateway bounds it), and names visible to a user under RLS only.
func TestListWalkDelimiters(t *testing.T) {
	f := newFixture(t)
	f.bucket(t, "walk")
	ctx := context.Background()
	const max, d7ff = "\U0010FFFF", "\uD7FF"
	var names []string
	for _, part := range []string{"/", "é", "→x", max, d7ff, "→", "x"} {
		for i := range 4 {
			names = append(names, fmt.Sprintf("a%s%d%s%d", part, i, part, i), fmt.Sprintf("a%d%s", i, part),
				fmt.Sprintf("a%s%s%d", part, part, i))
		}
	}
	names = append(names, "a", "b/c", "a"+max, "a"+max+max+"z", "a"+d7ff+"z", "a\uE000z")
	slices.Sort(names)
	names = slices.Compact(names)
	if _, err := f.db.Pool().Exec(ctx, `insert into storage.objects (bucket_id, name, metadata, version, owner_id)
		select 'walk', n, '{"size":1,"eTag":"\"e\""}', 'v', case when length(n) % 3 = 0 then 'hidden' else $2 end
		from unnest($1::text[]) n`, names, "6f0c1d7e-0000-4000-8000-0000000000c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool().Exec(ctx, `create policy walk_read on storage.objects for select to authenticated
		using (bucket_id = 'walk' and owner_id = auth.uid()::text)`); err != nil {
		t.Fatal(err)
	}
	reader := user("6f0c1d7e-0000-4000-8000-0000000000c1")
	visible := func(c Caller) []string {
		if c.Role != "authenticated" {
			return names
		}
		var out []string
		for _, n := range names {
			if len([]rune(n))%3 != 0 {
				out = append(out, n)
			}
		}
		return out
	}
	checked := 0
	for _, c := range []Caller{service(), reader} {
		for _, prefix := range []string{"", "a", "a/"} {
			for _, delim := range []string{"/", "é", "→x", max, d7ff, "→"} {
				var want []string
				for _, n := range visible(c) {
					rest, ok := strings.CutPrefix(n, prefix)
					if !ok {
						continue
					}
					if i := strings.Index(rest, delim); i >= 0 {
						n = prefix + rest[:i+len(delim)]
					}
					if len(want) == 0 || want[len(want)-1] != n {
						want = append(want, n)
					}
				}
				for _, size := range []int{1, 3, 1000} {
					got := listAllPages(t, f, c, ListObjects{Bucket: "walk", Prefix: prefix, Delimiter: delim, MaxKeys: size}, len(want))
					if !slices.Equal(got, want) {
						t.Fatalf("%s prefix %q delimiter %q size %d:\n got %q\nwant %q", c.Role, prefix, delim, size, got, want)
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d listings agree", checked)
}

// listAllPages lists in page by page from the start, following NextMarker, and returns
// every key and common prefix in order; more pages than entries+1 fails the test.
func listAllPages(t *testing.T, f *fixture, c Caller, in ListObjects, entries int) []string {
	t.Helper()
	var got []string
	for pages := 0; ; pages++ {
		if pages > entries+1 {
			t.Fatalf("%+v: no end after %d pages", in, pages)
		}
		res, err := f.e.ListObjects(context.Background(), c, in)
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, o := range res.Objects {
			page = append(page, o.Key)
		}
		page = append(page, res.CommonPrefixes...)
		slices.Sort(page)
		got = append(got, page...)
		if !res.IsTruncated {
			return got
		}
		in.StartAfter = res.NextMarker
	}
}
