package gateway

import (
	"context"
	"strings"
	"testing"
)

// TestListBucketPage pages buckets by name in byte order, with a literal prefix, under RLS.
func TestListBucketPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, id := range []string{"a-1", "c", "B_up", "a_x", "a-2"} {
		f.bucket(t, id)
	}
	names := func(l BucketList) string {
		var out []string
		for _, b := range l.Buckets {
			out = append(out, b.Name)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name      string
		in        BucketPage
		want      string
		truncated bool
		next      string
	}{
		{"all, byte order", BucketPage{}, "B_up,a-1,a-2,a_x,c", false, ""},
		{"first page", BucketPage{Limit: 2}, "B_up,a-1", true, "a-1"},
		{"second page", BucketPage{Limit: 2, After: "a-1"}, "a-2,a_x", true, "a_x"},
		{"last page", BucketPage{Limit: 2, After: "a_x"}, "c", false, ""},
		{"exact last page", BucketPage{Limit: 1, After: "a_x"}, "c", false, ""},
		{"prefix", BucketPage{Prefix: "a-"}, "a-1,a-2", false, ""},
		{"prefix is literal", BucketPage{Prefix: "a_"}, "a_x", false, ""},
		{"prefix paged", BucketPage{Prefix: "a", Limit: 2, After: "a-1"}, "a-2,a_x", false, ""},
		{"over the cap", BucketPage{Limit: MaxListBuckets + 1}, "B_up,a-1,a-2,a_x,c", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := f.e.ListBucketPage(ctx, service(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if names(l) != tc.want || l.IsTruncated != tc.truncated || l.NextAfter != tc.next {
				t.Fatalf("got %s truncated=%v next=%q, want %s %v %q", names(l), l.IsTruncated, l.NextAfter, tc.want, tc.truncated, tc.next)
			}
		})
	}
	if l, err := f.e.ListBucketPage(ctx, anon(), BucketPage{}); err != nil || len(l.Buckets) != 0 {
		t.Fatalf("anon sees %s (%v), want nothing without a policy", names(l), err)
	}
}
