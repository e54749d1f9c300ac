package filebackend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
)

// TestListManyPasses lists folders much larger than the per-folder batch (so each is read
// in several passes) and checks the keys come out complete and in byte order, with folder
// names that sort differently from their keys ("n" before "n-1", but "n-1/..." before
// "n/..."), temporary files skipped and keys with empty segments listed folded.
func TestListManyPasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t, testMode{}, Options{})
	s.listBatch = 3
	var want []string
	for i := range 40 {
		name := fmt.Sprintf("n%d", rand.IntN(5))
		if i%3 == 0 {
			name += []string{"-1", ".x", "/y", " z", "/y/z"}[rand.IntN(5)]
		}
		k := fmt.Sprintf("t/b/%s/%016x", name, rand.Uint64())
		if _, err := s.Put(ctx, k, strings.NewReader("x"), backend.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	if _, err := s.Put(ctx, "t/b//odd//v", strings.NewReader(""), backend.PutOptions{Size: 0}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "t/b/odd/v")
	tmp, err := s.createTemp([]string{"t", "b", "n0", "v"}) // a write in progress
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.discard()
	slices.Sort(want)
	var got []string
	if err := s.List(ctx, "t/", "", func(b backend.Listed) error { got = append(got, b.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List = %q\nwant %q", got, want)
	}
	for _, i := range []int{0, 7, 20, len(want) - 1} {
		got = got[:0]
		if err := s.List(ctx, "t/b/", want[i], func(b backend.Listed) error { got = append(got, b.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want[i+1:]) {
			t.Fatalf("List after %q = %q\nwant %q", want[i], got, want[i+1:])
		}
	}
}
