package rest

import (
	"context"
	"slices"
	"sync"
	"testing"
)

// TestBucketMadePrivateIsPurged: an update that turns a public bucket private tells the CDN
// purge hook (rest-api.md §1.4); updates that leave it public, or private, do not.
func TestBucketMadePrivateIsPurged(t *testing.T) {
	var mu sync.Mutex
	var purged []string
	f := newFixture(t, fixtureOptions{purgeBucket: func(_ context.Context, bucket string) {
		mu.Lock()
		purged = append(purged, bucket)
		mu.Unlock()
	}})
	took := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := purged
		purged = nil
		return out
	}
	for _, b := range []map[string]any{{"name": "pub", "public": true}, {"name": "priv"}} {
		if r := f.do("POST", "/bucket", f.service, b); r.status != 200 {
			t.Fatalf("create %v: %d %s", b, r.status, r.body)
		}
	}
	for _, tc := range []struct {
		name, bucket string
		body         map[string]any
		want         []string
	}{
		{"public stays public", "pub", map[string]any{"public": true}, nil},
		{"limit only", "pub", map[string]any{"file_size_limit": 100}, nil},
		{"public made private", "pub", map[string]any{"public": false}, []string{"pub"}},
		{"private again", "pub", map[string]any{"public": false}, nil},
		{"private stays private", "priv", map[string]any{"public": false}, nil},
		{"private made public", "priv", map[string]any{"public": true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			if r := f.do("PUT", "/bucket/"+tc.bucket, f.service, tc.body); r.status != 200 {
				t.Fatalf("update: %d %s", r.status, r.body)
			}
			if got := took(); !slices.Equal(got, tc.want) {
				t.Fatalf("purged %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("a refused update purges nothing", func(t *testing.T) {
		f.t = t
		if r := f.do("PUT", "/bucket/priv", f.service, map[string]any{"public": true}); r.status != 200 {
			t.Fatalf("update: %d %s", r.status, r.body)
		}
		r := f.do("PUT", "/bucket/priv", f.user("7a1d6c1e-8a55-4a6b-a3c2-8f0f0a4a1b11"), map[string]any{"public": false})
		if r.status == 200 {
			t.Fatalf("a user without an UPDATE policy changed the bucket: %s", r.body)
		}
		if got := took(); len(got) != 0 {
			t.Fatalf("purged %v after a refused update", got)
		}
	})
}
