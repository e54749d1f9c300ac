package backendtest

import (
	"errors"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
)

const (
	mib    = 1 << 20
	oddMiB = mib + 7 // crosses every power-of-two buffer boundary
)

func testRoundTrip(t *testing.T, e *env) {
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"0B", 0},
		{"1B", 1},
		{"1MiB+7", oddMiB},
		{"17MiB", 17 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := e.key("roundtrip-" + tc.name)
			seed := uint64(tc.size) + 1
			e.put(t, key, seed, tc.size)
			e.check(t, key, backend.Whole, Pattern(seed, tc.size))
		})
	}
	t.Run("UnknownSize", func(t *testing.T) {
		key := e.key("unknown-size")
		const size = 3*mib + 5
		w, err := e.s.Put(t.Context(), key, Pattern(7, size), backend.PutOptions{Size: -1})
		if err != nil {
			t.Fatalf("Put with Size -1: %v", err)
		}
		if w.Size != size {
			t.Errorf("Written.Size = %d, want %d", w.Size, size)
		}
		e.check(t, key, backend.Whole, Pattern(7, size))
	})
	t.Run("ContentTypeAndCacheControl", func(t *testing.T) {
		key := e.key("with-metadata.txt")
		opts := backend.PutOptions{Size: 5, ContentType: "text/plain;charset=UTF-8", CacheControl: "max-age=3600"}
		if _, err := e.s.Put(t.Context(), key, Pattern(3, 5), opts); err != nil {
			t.Fatalf("Put: %v", err)
		}
		e.check(t, key, backend.Whole, Pattern(3, 5))
	})
}

func testRange(t *testing.T, e *env) {
	const size, seed = oddMiB, 11
	key := e.key("ranged.bin")
	e.put(t, key, seed, size)
	for _, tc := range []struct {
		name     string
		r        backend.Range
		off, len int64 // expected section; len -1 = to the end
	}{
		{"Whole", backend.Whole, 0, -1},
		{"ZeroRange", backend.Range{}, 0, -1},
		{"Start", backend.Range{Offset: 0, Length: 10}, 0, 10},
		{"FirstByte", backend.Range{Offset: 0, Length: 1}, 0, 1},
		{"Middle", backend.Range{Offset: 1000, Length: 70000}, 1000, 70000},
		{"FromMiddleToEnd", backend.Range{Offset: size / 2, Length: -1}, size / 2, -1},
		{"End", backend.Range{Offset: size - 10, Length: 10}, size - 10, 10},
		{"LastByte", backend.Range{Offset: size - 1, Length: -1}, size - 1, 1},
		{"PastEndIsCut", backend.Range{Offset: size - 5, Length: 100}, size - 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.check(t, key, tc.r, section(seed, size, tc.off, tc.len))
		})
	}
}

func testStat(t *testing.T, e *env) {
	for _, size := range []int64{0, 1, oddMiB} {
		key := e.key("stat")
		e.put(t, key, 5, size)
		e.wantSize(t, key, size)
	}
}

func testNotFound(t *testing.T, e *env) {
	t.Run("Missing", func(t *testing.T) {
		e.wantNotFound(t, e.key("never-written"))
	})
	t.Run("PrefixOfOtherKeys", func(t *testing.T) {
		key := e.key("folder/object")
		e.put(t, key, 1, 10)
		e.wantNotFound(t, e.prefix+"folder")
		e.wantNotFound(t, e.prefix+"folder/object")
		e.wantNotFound(t, e.prefix+"folder/object/other-version")
	})
	t.Run("BelowABlob", func(t *testing.T) {
		key := e.key("blob")
		e.put(t, key, 1, 10)
		e.wantNotFound(t, key+"/below")
	})
}

func testDelete(t *testing.T, e *env) {
	ctx := t.Context()
	t.Run("MissingIsFine", func(t *testing.T) {
		if err := e.s.Delete(ctx, e.key("never-written")); err != nil {
			t.Errorf("Delete(missing) = %v, want nil", err)
		}
		if err := e.s.Delete(ctx); err != nil {
			t.Errorf("Delete() = %v, want nil", err)
		}
	})
	t.Run("Twice", func(t *testing.T) {
		key := e.key("twice")
		e.put(t, key, 1, 100)
		for i := range 2 {
			if err := e.s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
			e.wantNotFound(t, key)
		}
	})
	t.Run("Many", func(t *testing.T) {
		a, b, missing := e.key("many/a"), e.key("many/b"), e.key("many/missing")
		e.put(t, a, 1, 10)
		e.put(t, b, 2, 0)
		if err := e.s.Delete(ctx, a, missing, b); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		e.wantNotFound(t, a)
		e.wantNotFound(t, b)
	})
	t.Run("SiblingsSurvive", func(t *testing.T) {
		obj := "siblings/object.txt"
		v1, v2, deeper := e.key(obj), e.key(obj), e.key(obj+"/deeper")
		e.put(t, v1, 1, 10)
		e.put(t, v2, 2, 20)
		e.put(t, deeper, 3, 30)
		if err := e.s.Delete(ctx, v1); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		e.wantNotFound(t, v1)
		e.check(t, v2, backend.Whole, Pattern(2, 20))
		e.check(t, deeper, backend.Whole, Pattern(3, 30))
		if err := e.s.Delete(ctx, v2, deeper); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		// Writing again where everything was just deleted works.
		v3 := e.key(obj)
		e.put(t, v3, 4, 40)
		e.check(t, v3, backend.Whole, Pattern(4, 40))
	})
}

func testOverwrite(t *testing.T, e *env) {
	key := e.key("overwritten")
	e.put(t, key, 1, 1000)
	e.put(t, key, 2, 10)
	e.wantSize(t, key, 10)
	e.check(t, key, backend.Whole, Pattern(2, 10))
}

// wantPutFails checks that a Put failed with an error matching target (when non-nil) and
// left nothing visible under key.
func (e *env) wantPutFails(t *testing.T, key string, err, target error) {
	t.Helper()
	if err == nil {
		t.Fatalf("Put(%q) succeeded, want an error", key)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("Put(%q) error = %v, want errors.Is %v", key, err, target)
	}
	e.wantNotFound(t, key)
}
