package backendtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
)

func testSizeMismatch(t *testing.T, e *env) {
	for _, tc := range []struct {
		name             string
		declared, actual int64
	}{
		{"ShortBody", 100, 99},
		{"EmptyBody", 100, 0},
		{"LongBody", 100, 101},
		{"ZeroDeclaredOneSent", 0, 1},
		{"LongLargeBody", mib, 2 * mib},
		{"ShortLargeBody", 2 * mib, 2*mib - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := e.key("mismatch-" + tc.name)
			_, err := e.s.Put(t.Context(), key, Pattern(1, tc.actual), backend.PutOptions{Size: tc.declared})
			e.wantPutFails(t, key, err, backend.ErrSizeMismatch)
		})
	}
}

var errBody = errors.New("backendtest: body read failed")

// failingReader yields n bytes of a pattern, then calls then() (if set) and, when err is
// set, fails; otherwise it carries on with the pattern until its end.
type failingReader struct {
	r    io.Reader
	n    int64
	then func()
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		if f.then != nil {
			f.then()
			f.then = nil
		}
		if f.err != nil {
			return 0, f.err
		}
		return f.r.Read(p)
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}

func testBodyError(t *testing.T, e *env) {
	for _, tc := range []struct {
		name      string
		declared  int64
		failAfter int64
	}{
		{"KnownSize", 4 * mib, 3 * mib},
		{"UnknownSize", -1, 3 * mib},
		{"Immediately", 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := e.key("body-error-" + tc.name)
			body := &failingReader{r: Pattern(1, 4*mib), n: tc.failAfter, err: errBody}
			_, err := e.s.Put(t.Context(), key, body, backend.PutOptions{Size: tc.declared})
			e.wantPutFails(t, key, err, errBody)
		})
	}
}

func testCancel(t *testing.T, e *env) {
	t.Run("MidPut", func(t *testing.T) {
		key := e.key("cancelled-mid-put")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		const size = 8 * mib
		body := &failingReader{r: Pattern(1, size), n: 2 * mib, then: cancel}
		_, err := e.s.Put(ctx, key, body, backend.PutOptions{Size: size})
		e.wantPutFails(t, key, err, context.Canceled)
	})
	t.Run("BeforePut", func(t *testing.T) {
		key := e.key("cancelled-before-put")
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := e.s.Put(ctx, key, strings.NewReader("abc"), backend.PutOptions{Size: 3})
		e.wantPutFails(t, key, err, context.Canceled)
	})
}

func testConcurrent(t *testing.T, e *env) {
	const writers = 12
	keys := make([]string, writers)
	for i := range keys {
		// Half share one object folder, as versions of one object do.
		keys[i] = e.key(fmt.Sprintf("concurrent/%d", i%2))
	}
	size := func(i int) int64 { return int64(256<<10 + 1000*i) }
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			_, errs[i] = e.s.Put(t.Context(), keys[i], Pattern(uint64(i), size(i)), backend.PutOptions{Size: size(i)})
		})
	}
	wg.Wait()
	for i, key := range keys {
		if errs[i] != nil {
			t.Fatalf("Put(%q): %v", key, errs[i])
		}
		e.check(t, key, backend.Whole, Pattern(uint64(i), size(i)))
	}
}

// testKeys stores object names holding punctuation, non-ASCII (any UTF-8 the engine accepts),
// empty segments, dot-led names and segments of 255 bytes.
func testKeys(t *testing.T, e *env) {
	for _, tc := range []struct{ name, object string }{
		{"Space", "with space/file name.txt"},
		{"Plus", "a+b"},
		{"Colon", "12:30:00"},
		{"Quote", "it's"},
		{"Parens", "copy (1).png"},
		{"At", "user@example.com"},
		{"Comma", "a,b"},
		{"Question", "why?"},
		{"Equals", "k=v"},
		{"Ampersand", "this&that"},
		{"Dollar", "$HOME"},
		{"Semicolon", "a;b"},
		{"Bang", "wow!"},
		{"Star", "*"},
		{"DashUnderscore", "-_-"},
		{"AllAllowed", "AZaz09_!.*'() &$=@;:+,?-"},
		{"EmptySegment", "a//b"},
		{"TrailingSlash", "folder/"},
		{"LeadingSlash", "/rooted"},
		{"Placeholder", "folder/.emptyFolderPlaceholder"},
		{"DotLed", ".hidden"},
		{"ThreeDots", "..."},
		{"DotsAround", "..a/a.."},
		{"Deep", strings.Repeat("d/", 20) + "leaf"},
		{"LongSegment", strings.Repeat("x", 255)},
		{"Accents", "café/naïve résumé.txt"},
		{"CJK", "日本語/ファイル.txt"},
		{"NarrowNoBreakSpace", "Screenshot 2024-01-01 at 10.00.00\u202fAM.png"},
		{"Emoji", "😀/🎉"},
		{"Punctuation", `100%_[a]{b}^~"q"<x>|y\z#.txt`},
		{"LiteralEscapes", "a%2Fb%20c%zz"},
		{"Backtick", "a`b"},
		{"LongMultibyteSegment", strings.Repeat("é", 127) + "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := e.key(tc.object)
			body := "bytes of " + key
			n := int64(len(body))
			if _, err := e.s.Put(t.Context(), key, strings.NewReader(body), backend.PutOptions{Size: n}); err != nil {
				t.Fatalf("Put(%q): %v", key, err)
			}
			e.wantSize(t, key, n)
			e.check(t, key, backend.Whole, strings.NewReader(body))
			if err := e.s.Delete(t.Context(), key); err != nil {
				t.Fatalf("Delete(%q): %v", key, err)
			}
			e.wantNotFound(t, key)
		})
	}
}
