package render

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBoundedReturnsProducedResult: a transformation that returned its result is never
// answered as a timeout. The hook waits until the work has sent its result and released its
// context, so the wait finds both ready at once; whichever it looks at first, the result
// that was produced must win.
func TestBoundedReturnsProducedResult(t *testing.T) {
	r, err := NewRenderer(Config{Concurrency: 1, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.hooks.beforeWait = func(wctx context.Context) { <-wctx.Done() }
	errWork := errors.New("work failed")
	for i := range 200 {
		want := error(nil)
		if i%2 == 1 {
			want = errWork
		}
		got := r.bounded(context.Background(), func(context.Context) error { return want })
		if !errors.Is(got, want) {
			t.Fatalf("run %d: want %v, got %v", i, want, got)
		}
	}
}
