package filebackend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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

// TestListFolderRemovedMidWalk: a folder removed after the walk opened it (an upload's parts
// cleaned up while fsck lists) reads as empty, not as an error.
func TestListFolderRemovedMidWalk(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, testMode{}, Options{NoFsync: true})
	if err := os.MkdirAll(filepath.Join(s.Dir(), "t/b/k/v.parts"), 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := s.openDir([]string{"t", "b", "k", "v.parts"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.Dir(), "t/b/k/v.parts")); err != nil {
		t.Fatal(err)
	}
	var got []string
	w := lister{s: s, ctx: t.Context(), fn: func(l backend.Listed) error { got = append(got, l.Key); return nil },
		buf: make([]byte, 32<<10), batch: defaultListBatch}
	if err := w.dir(fd, "t/b/k/v.parts/"); err != nil || len(got) != 0 {
		t.Fatalf("listing a removed folder: %v, %v; want nothing, no error", got, err)
	}
}
