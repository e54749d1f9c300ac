package backendtest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
)

func testCopier(t *testing.T, e *env) {
	c, ok := e.s.(backend.Copier)
	if !ok {
		t.Skip("store is not a backend.Copier")
	}
	ctx := t.Context()
	for _, size := range []int64{0, oddMiB} {
		src, dst := e.key("copy-src"), e.key("copy-dst")
		e.put(t, src, 9, size)
		w, err := c.Copy(ctx, src, dst)
		if err != nil {
			t.Fatalf("Copy(%d bytes): %v", size, err)
		}
		if w.Size != size {
			t.Errorf("Copy: Written.Size = %d, want %d", w.Size, size)
		}
		e.check(t, dst, backend.Whole, Pattern(9, size))
		if err := e.s.Delete(ctx, src); err != nil {
			t.Fatalf("Delete(src): %v", err)
		}
		e.check(t, dst, backend.Whole, Pattern(9, size)) // a copy, not a reference
	}
	t.Run("MissingSource", func(t *testing.T) {
		dst := e.key("copy-dst-of-missing")
		_, err := c.Copy(ctx, e.key("copy-missing"), dst)
		if !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Copy(missing) error = %v, want ErrNotFound", err)
		}
		e.wantNotFound(t, dst)
	})
}

func testComposer(t *testing.T, e *env) {
	c, ok := e.s.(backend.Composer)
	if !ok {
		t.Skip("store is not a backend.Composer")
	}
	ctx := t.Context()
	type src struct {
		key        string
		seed, size uint64
	}
	srcs := []src{{seed: 1, size: oddMiB}, {seed: 2, size: 0}, {seed: 3, size: 5}, {seed: 4, size: 64 << 10}}
	var keys []string
	var total int64
	for i := range srcs {
		srcs[i].key = e.key("compose-part")
		e.put(t, srcs[i].key, srcs[i].seed, int64(srcs[i].size))
		keys = append(keys, srcs[i].key)
		total += int64(srcs[i].size)
	}
	want := func() io.Reader {
		var rs []io.Reader
		for _, s := range srcs {
			rs = append(rs, Pattern(s.seed, int64(s.size)))
		}
		return io.MultiReader(rs...)
	}
	for _, tc := range []struct {
		name string
		size int64
	}{{"DeclaredSize", total}, {"UnknownSize", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			dst := e.key("composed")
			w, err := c.Compose(ctx, dst, keys, backend.PutOptions{Size: tc.size, ContentType: "application/octet-stream"})
			if err != nil {
				t.Fatalf("Compose: %v", err)
			}
			if w.Size != total {
				t.Errorf("Compose: Written.Size = %d, want %d", w.Size, total)
			}
			e.check(t, dst, backend.Whole, want())
		})
	}
	t.Run("SingleSource", func(t *testing.T) {
		dst := e.key("composed-single")
		if _, err := c.Compose(ctx, dst, keys[2:3], backend.PutOptions{Size: -1}); err != nil {
			t.Fatalf("Compose: %v", err)
		}
		e.check(t, dst, backend.Whole, Pattern(3, 5))
	})
	t.Run("SizeMismatch", func(t *testing.T) {
		dst := e.key("composed-wrong-size")
		_, err := c.Compose(ctx, dst, keys, backend.PutOptions{Size: total + 1})
		e.wantPutFails(t, dst, err, backend.ErrSizeMismatch)
	})
	t.Run("MissingSource", func(t *testing.T) {
		dst := e.key("composed-missing-source")
		_, err := c.Compose(ctx, dst, []string{keys[0], e.key("compose-missing")}, backend.PutOptions{Size: -1})
		e.wantPutFails(t, dst, err, backend.ErrNotFound)
	})
	// The sources are untouched.
	for _, s := range srcs {
		e.check(t, s.key, backend.Whole, Pattern(s.seed, int64(s.size)))
	}
}

// testMultipart checks stores that assemble uploads themselves (S3 upstreams). Parts other
// than the last are 5 MiB, S3's minimum.
func testMultipart(t *testing.T, e *env) {
	m, ok := e.s.(backend.Multipart)
	if !ok {
		t.Skip("store is not a backend.Multipart")
	}
	ctx := t.Context()
	const part1, part2 = 5 * mib, 1000
	t.Run("Finish", func(t *testing.T) {
		key := e.key("multipart")
		id, err := m.StartUpload(ctx, key, backend.PutOptions{Size: -1, ContentType: "application/octet-stream"})
		if err != nil {
			t.Fatalf("StartUpload: %v", err)
		}
		// Part 2 first: parts may arrive in any order.
		etag2, err := m.PutPart(ctx, key, id, 2, Pattern(2, part2), part2)
		if err != nil {
			t.Fatalf("PutPart(2): %v", err)
		}
		etag1, err := m.PutPart(ctx, key, id, 1, Pattern(1, part1), part1)
		if err != nil {
			t.Fatalf("PutPart(1): %v", err)
		}
		e.wantNotFound(t, key) // nothing visible before FinishUpload
		w, err := m.FinishUpload(ctx, key, id, []backend.Part{{Number: 1, ETag: etag1}, {Number: 2, ETag: etag2}})
		if err != nil {
			t.Fatalf("FinishUpload: %v", err)
		}
		if w.Size != part1+part2 {
			t.Errorf("FinishUpload: Written.Size = %d, want %d", w.Size, part1+part2)
		}
		e.check(t, key, backend.Whole, io.MultiReader(Pattern(1, part1), Pattern(2, part2)))
	})
	t.Run("Abort", func(t *testing.T) {
		key := e.key("multipart-aborted")
		id, err := m.StartUpload(ctx, key, backend.PutOptions{Size: -1})
		if err != nil {
			t.Fatalf("StartUpload: %v", err)
		}
		if _, err := m.PutPart(ctx, key, id, 1, Pattern(1, 100), 100); err != nil {
			t.Fatalf("PutPart: %v", err)
		}
		if err := m.AbortUpload(ctx, key, id); err != nil {
			t.Fatalf("AbortUpload: %v", err)
		}
		e.wantNotFound(t, key)
	})
	t.Run("PartSizeMismatch", func(t *testing.T) {
		key := e.key("multipart-short-part")
		id, err := m.StartUpload(ctx, key, backend.PutOptions{Size: -1})
		if err != nil {
			t.Fatalf("StartUpload: %v", err)
		}
		// t.Context() is cancelled by cleanup time; the abort is deliberately detached.
		t.Cleanup(func() { _ = m.AbortUpload(context.Background(), key, id) })
		if _, err := m.PutPart(ctx, key, id, 1, Pattern(1, 99), 100); !errors.Is(err, backend.ErrSizeMismatch) {
			t.Errorf("PutPart(short body) error = %v, want ErrSizeMismatch", err)
		}
	})
	t.Run("UnknownUpload", func(t *testing.T) {
		key := e.key("multipart-unknown")
		_, err := m.PutPart(ctx, key, "no-such-upload", 1, Pattern(1, 10), 10)
		if !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("PutPart(unknown upload) error = %v, want ErrNotFound", err)
		}
	})
}
