package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestListDelimiterPages lists a bucket that mixes folders and plain keys (more folders in a
// row than one skip scan reads, listSkipBatch) with a delimiter, page by page at several
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
		var got []string
		marker := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("size %d: no end after %d pages", size, pages)
			}
			res, err := f.e.ListObjects(ctx, service(), ListObjects{Bucket: "mix", Prefix: "a/", Delimiter: "/", StartAfter: marker, MaxKeys: size})
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
				break
			}
			marker = res.NextMarker
		}
		if !slices.Equal(got, want) {
			t.Fatalf("size %d:\n got %v\nwant %v", size, got, want)
		}
	}
}
