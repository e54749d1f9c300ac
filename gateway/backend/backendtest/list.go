package backendtest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway/backend"
)

// testList checks that List reports exactly the stored keys under a prefix, in byte order
// (names chosen so that folder order and key order differ: "a-b" sorts before "a/..."),
// with sizes, and resumes after any key.
func testList(t *testing.T, e *env) {
	l, ok := e.s.(backend.Lister)
	if !ok {
		t.Skip("store is not a backend.Lister")
	}
	ctx := t.Context()
	start := time.Now().Add(-time.Hour)
	var want []string
	sizes := map[string]int64{}
	for i, name := range []string{"a", "a-b", "a/c", "a.txt", "a/c/d", "b", "a b", "Z", "é", "a/c!"} {
		k := e.key(name)
		e.put(t, k, uint64(i), int64(i))
		want = append(want, k)
		sizes[k] = int64(i)
	}
	slices.Sort(want)
	list := func(prefix, after string) []string {
		t.Helper()
		var got []string
		err := l.List(ctx, prefix, after, func(b backend.Listed) error {
			if b.Size != sizes[b.Key] {
				t.Errorf("List: %q size %d, want %d", b.Key, b.Size, sizes[b.Key])
			}
			if b.Modified.Before(start) {
				t.Errorf("List: %q modified %v, before the test started", b.Key, b.Modified)
			}
			got = append(got, b.Key)
			return nil
		})
		if err != nil {
			t.Fatalf("List(%q, %q): %v", prefix, after, err)
		}
		return got
	}
	if got := list(e.prefix, ""); !slices.Equal(got, want) {
		t.Fatalf("List = %q\nwant %q", got, want)
	}
	for i, after := range want {
		if got := list(e.prefix, after); !slices.Equal(got, want[i+1:]) {
			t.Fatalf("List after %q = %q\nwant %q", after, got, want[i+1:])
		}
	}
	// A bound that is no key: everything after it.
	bound := e.prefix + "a/"
	var wantAfter []string
	for _, k := range want {
		if k > bound {
			wantAfter = append(wantAfter, k)
		}
	}
	if got := list(e.prefix, bound); !slices.Equal(got, wantAfter) {
		t.Fatalf("List after %q = %q\nwant %q", bound, got, wantAfter)
	}
	sub := e.prefix + "a/"
	var wantSub []string
	for _, k := range want {
		if len(k) >= len(sub) && k[:len(sub)] == sub {
			wantSub = append(wantSub, k)
		}
	}
	if got := list(sub, ""); !slices.Equal(got, wantSub) {
		t.Fatalf("List(%q) = %q\nwant %q", sub, got, wantSub)
	}
	stop := errors.New("stop")
	n := 0
	err := l.List(ctx, e.prefix, "", func(backend.Listed) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List with a failing callback: %v after %d calls, want stop after 1", err, n)
	}
}
