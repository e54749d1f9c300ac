// Package backendtest is the contract every backend.Store keeps, as a reusable test suite:
// the file store and the S3 upstream store both run it, so the engine can rely on the same
// behaviour from either.
//
// What the suite pins beyond backend.go's comments:
//   - a Range past the end is cut at the end; Length -1 and the zero Range read to the end;
//   - Open/Stat of a key that is only a prefix of other keys ("a" beside "a/v1") is ErrNotFound;
//   - an error from the body reader, and a cancelled context, come back wrapped so that
//     errors.Is finds them (the engine tells a client's broken upload from a store failure);
//   - a failed Put, Copy or Compose leaves nothing visible under the destination key;
//   - keys may hold any UTF-8 the engine accepts (non-ASCII, %, #, \, quotes, ...) and empty
//     segments, and read back under the same key.
//
// Offsets at or past the end of a blob are left unspecified: the engine validates ranges.
package backendtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
)

// Run runs the contract suite as parallel subtests. newStore is called once per subtest; it
// may return a fresh store each time (a t.TempDir() folder) or the same one (one upstream
// bucket): every subtest writes under its own random prefix and deletes its keys afterwards.
// Optional capabilities (Copier, Composer, Multipart) are tested when the store has them.
func Run(t *testing.T, newStore func(t *testing.T) backend.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"RoundTrip", testRoundTrip},
		{"Range", testRange},
		{"Stat", testStat},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"Overwrite", testOverwrite},
		{"SizeMismatch", testSizeMismatch},
		{"BodyError", testBodyError},
		{"Cancel", testCancel},
		{"Concurrent", testConcurrent},
		{"Keys", testKeys},
		{"Copier", testCopier},
		{"Composer", testComposer},
		{"Multipart", testMultipart},
		{"List", testList},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newEnv(t, newStore(t)))
		})
	}
}

// env is one subtest's store and key space.
type env struct {
	s      backend.Store
	prefix string // "<tenant>/<bucket>/", unique to the subtest

	mu   sync.Mutex
	keys []string // to delete at cleanup
}

func newEnv(t *testing.T, s backend.Store) *env {
	e := &env{s: s, prefix: fmt.Sprintf("stowage-contract-%016x/bucket/", rand.Uint64())}
	t.Cleanup(func() {
		// t.Context() is already cancelled here; cleanup is deliberately detached.
		e.mu.Lock()
		defer e.mu.Unlock()
		if err := s.Delete(context.Background(), e.keys...); err != nil {
			t.Errorf("cleanup: Delete: %v", err)
		}
	})
	return e
}

// key returns a fresh version key for object name, laid out like the engine's
// <tenant>/<bucket>/<name>/<version>, and remembers it for cleanup.
func (e *env) key(name string) string {
	k := e.prefix + name + "/" + versionID()
	e.mu.Lock()
	e.keys = append(e.keys, k)
	e.mu.Unlock()
	return k
}

func versionID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40 // a v4 UUID, as the engine makes
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Pattern returns size bytes generated from seed: the same seed and size always give the
// same bytes, produced as a stream (never held whole).
func Pattern(seed uint64, size int64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return &readerOnly{io.LimitReader(rand.NewChaCha8(s), size)}
}

// readerOnly hides WriterTo and the like, as a network body would.
type readerOnly struct{ r io.Reader }

func (r *readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// put stores Pattern(seed, size) under key with the size declared.
func (e *env) put(t *testing.T, key string, seed uint64, size int64) {
	t.Helper()
	w, err := e.s.Put(t.Context(), key, Pattern(seed, size), backend.PutOptions{Size: size})
	if err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, size, err)
	}
	if w.Size != size {
		t.Fatalf("Put(%q): Written.Size = %d, want %d", key, w.Size, size)
	}
}

// check reads r of key and compares it with want, streaming.
func (e *env) check(t *testing.T, key string, r backend.Range, want io.Reader) {
	t.Helper()
	rc, err := e.s.Open(t.Context(), key, r)
	if err != nil {
		t.Fatalf("Open(%q, %+v): %v", key, r, err)
	}
	defer rc.Close()
	if err := sameStream(rc, want); err != nil {
		t.Fatalf("Open(%q, %+v): %v", key, r, err)
	}
}

// sameStream compares two streams chunk by chunk and describes the first difference.
func sameStream(got, want io.Reader) error {
	const chunk = 64 << 10
	g, w := make([]byte, chunk), make([]byte, chunk)
	var off int64
	for {
		ng, gerr := io.ReadFull(got, g)
		nw, werr := io.ReadFull(want, w)
		if gerr != nil && !isEnd(gerr) {
			return fmt.Errorf("read at %d: %w", off+int64(ng), gerr)
		}
		if werr != nil && !isEnd(werr) {
			return fmt.Errorf("reference read at %d: %w", off+int64(nw), werr)
		}
		n := min(ng, nw)
		if i := firstDiff(g[:n], w[:n]); i >= 0 {
			return fmt.Errorf("bytes differ at offset %d", off+int64(i))
		}
		off += int64(n)
		switch {
		case ng < nw:
			return fmt.Errorf("got %d bytes, want more", off)
		case ng > nw:
			return fmt.Errorf("got more than the %d bytes wanted", off)
		case ng < chunk:
			return nil
		}
	}
}

func isEnd(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// section is bytes [off, off+n) of Pattern(seed, size); n < 0 means to the end.
func section(seed uint64, size, off, n int64) io.Reader {
	r := Pattern(seed, size)
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		panic(err) // only with an offset past the end: a bug in the suite
	}
	if n < 0 {
		return r
	}
	return io.LimitReader(r, n)
}

// wantNotFound fails unless key is absent (Stat and Open both say ErrNotFound).
func (e *env) wantNotFound(t *testing.T, key string) {
	t.Helper()
	if info, err := e.s.Stat(t.Context(), key); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Stat(%q) = %+v, %v; want ErrNotFound", key, info, err)
	}
	rc, err := e.s.Open(t.Context(), key, backend.Whole)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Open(%q) error = %v; want ErrNotFound", key, err)
	}
}

func (e *env) wantSize(t *testing.T, key string, size int64) {
	t.Helper()
	info, err := e.s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	if info.Size != size {
		t.Errorf("Stat(%q).Size = %d, want %d", key, info.Size, size)
	}
}
