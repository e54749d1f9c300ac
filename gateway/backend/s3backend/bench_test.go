package s3backend

import (
	"bytes"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

// The benchmarks measure the store's own cost per call against a local MinIO, each call
// once through the SDK and once direct (direct.go), in the same run: cpu-µs/op is this
// process's CPU (MinIO is another process), the figure to compare on a busy machine.
// go test -run XXX -bench 4KiB -benchtime 3000x -count 3 ./gateway/backend/s3backend

func BenchmarkPut4KiB(b *testing.B) {
	s := benchStore(b)
	body := bytes.Repeat([]byte("x"), 4<<10)
	benchPaths(b, s, func(b *testing.B, n int64) {
		key := fmt.Sprintf("bench/put/%d", n%256)
		if _, err := s.Put(b.Context(), key, bytes.NewReader(body), backend.PutOptions{Size: int64(len(body))}); err != nil {
			b.Error(err)
		}
	})
}

func BenchmarkOpen4KiB(b *testing.B) {
	s := benchStore(b)
	body := bytes.Repeat([]byte("x"), 4<<10)
	for i := range 64 {
		if _, err := s.Put(b.Context(), fmt.Sprintf("bench/get/%d", i), bytes.NewReader(body), backend.PutOptions{Size: int64(len(body))}); err != nil {
			b.Fatal(err)
		}
	}
	benchPaths(b, s, func(b *testing.B, n int64) {
		buf := make([]byte, len(body))
		r, err := s.Open(b.Context(), fmt.Sprintf("bench/get/%d", n%64), backend.Whole)
		if err != nil {
			b.Error(err)
			return
		}
		defer r.Close()
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Error(err)
		}
	})
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	return newStore(b, miniotest.Start(b), nil)
}

// benchPaths runs op from 4 goroutines per CPU, through the SDK and then direct.
func benchPaths(b *testing.B, s *Store, op func(b *testing.B, n int64)) {
	d := s.direct
	for _, path := range []string{"sdk", "direct"} {
		b.Run(path, func(b *testing.B) {
			s.direct = nil
			if path == "direct" {
				s.direct = d
			}
			var n atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					op(b, n.Add(1))
				}
			})
		})
	}
}

// reportCPU reports the process's CPU time (user+system) per operation from now until the
// returned function runs.
func reportCPU(b *testing.B) func() {
	t0 := cpuTime()
	return func() { b.ReportMetric(float64((cpuTime()-t0).Microseconds())/float64(b.N), "cpu-µs/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
