package filebackend

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/backendtest"
)

const benchSize = 16 << 20

// benchBody is benchSize pattern bytes, re-read each iteration through a plain Read so that
// neither side of a comparison gets a WriterTo shortcut (a network body has none).
type benchBody struct{ r *bytes.Reader }

func newBenchBody(b *testing.B) *benchBody {
	buf := make([]byte, benchSize)
	if _, err := io.ReadFull(backendtest.Pattern(1, benchSize), buf); err != nil {
		b.Fatal(err)
	}
	return &benchBody{r: bytes.NewReader(buf)}
}

func (bb *benchBody) Read(p []byte) (int, error) { return bb.r.Read(p) }
func (bb *benchBody) rewind()                    { bb.r.Seek(0, io.SeekStart) }

func benchPut(b *testing.B, opts Options) {
	s, err := New(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := newBenchBody(b)
	ctx := b.Context()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := range b.N {
		body.rewind()
		key := fmt.Sprintf("t/b/obj-%d/v", i)
		if _, err := s.Put(ctx, key, body, backend.PutOptions{Size: benchSize, ContentType: "application/octet-stream"}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(ctx, key); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func BenchmarkPut16MiB(b *testing.B)        { benchPut(b, Options{}) }
func BenchmarkPut16MiBNoFsync(b *testing.B) { benchPut(b, Options{NoFsync: true}) }

// BenchmarkPlainCopy16MiB is the yardstick for BenchmarkPut16MiB: the same bytes written to
// the same kind of folder with os.Create, io.Copy and fsync, and nothing else.
func BenchmarkPlainCopy16MiB(b *testing.B) {
	dir := b.TempDir()
	body := newBenchBody(b)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := range b.N {
		body.rewind()
		p := filepath.Join(dir, fmt.Sprintf("obj-%d", i))
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, body); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(p)
		b.StartTimer()
	}
}

// readerOnly and writerOnly keep io.Copy from taking the sendfile/ReadFrom shortcuts, so the
// Open benchmarks measure the bytes coming through Read as a response writer would see them.
type readerOnly struct{ io.Reader }
type writerOnly struct{ io.Writer }

func benchRead(b *testing.B, open func() (io.ReadCloser, error)) {
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		rc, err := open()
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(writerOnly{io.Discard}, readerOnly{rc}, buf)
		rc.Close()
		if err != nil || n != benchSize {
			b.Fatalf("read %d bytes, %v", n, err)
		}
	}
}

func BenchmarkOpen16MiB(b *testing.B) {
	s, err := New(b.TempDir(), Options{NoFsync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(b.Context(), "t/b/obj/v", newBenchBody(b), backend.PutOptions{Size: benchSize}); err != nil {
		b.Fatal(err)
	}
	benchRead(b, func() (io.ReadCloser, error) { return s.Open(b.Context(), "t/b/obj/v", backend.Whole) })
}

// BenchmarkPlainRead16MiB is the yardstick for BenchmarkOpen16MiB: os.Open of the same file.
func BenchmarkPlainRead16MiB(b *testing.B) {
	p := filepath.Join(b.TempDir(), "obj")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, newBenchBody(b)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	benchRead(b, func() (io.ReadCloser, error) { return os.Open(p) })
}

// BenchmarkPutNewKey4KiB stores 4 KiB under a new key's folder each time, as a new-key
// PutObject does (<tenant>/<bucket>/<key>/<version>), with fsync. scripts/write-counts.sh
// runs it under strace -c to count the syscalls per op.
func BenchmarkPutNewKey4KiB(b *testing.B) {
	s, data := newPutBench(b)
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		key := fmt.Sprintf("t/b/obj-%d/v", i)
		if _, err := s.Put(ctx, key, bytes.NewReader(data), backend.PutOptions{Size: int64(len(data)), ContentType: "text/plain"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutNewKey4KiBParallel is BenchmarkPutNewKey4KiB from 8 goroutines per CPU, as a
// loaded gateway writes: new key folders in one bucket folder, fsyncs overlapping.
func BenchmarkPutNewKey4KiBParallel(b *testing.B) {
	s, data := newPutBench(b)
	ctx := b.Context()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("t/b/obj-%d/v", next.Add(1))
			if _, err := s.Put(ctx, key, bytes.NewReader(data), backend.PutOptions{Size: int64(len(data)), ContentType: "text/plain"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// newPutBench is a store with fsync (closed when b ends) and a 4 KiB body.
func newPutBench(b *testing.B) (*Store, []byte) {
	s, err := New(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, bytes.Repeat([]byte("x"), 4096)
}
