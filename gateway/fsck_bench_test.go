package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/filebackend"
)

// BenchmarkFsckScale checks a flat bucket of n objects (n folders side by side in one
// folder of the file store) plus n/100
// orphans, and reports the peak live heap sampled during the run: it should not grow with
// n. Measured figures are in docs/fsck.md. (The folder is read in n/32768 passes.)
//
//	go test -run XXX -bench FsckScale -benchtime 1x ./gateway/
func BenchmarkFsckScale(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			root := b.TempDir()
			store, err := filebackend.New(root, filebackend.Options{NoFsync: true})
			if err != nil {
				b.Fatal(err)
			}
			f := newFsckEnv(b, store, false)
			if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "scale", FileSizeLimit: NoLimit}); err != nil {
				b.Fatal(err)
			}
			_, err = f.e.db.Pool().Exec(ctx, `insert into storage.objects (bucket_id, name, version, metadata)
				select 'scale', 'obj' || lpad(i::text, 7, '0'), 'v' || i, '{}' from generate_series(1, $1) i`, n)
			if err != nil {
				b.Fatal(err)
			}
			dir := filepath.Join(root, f.e.opts.TenantID, "scale")
			write := func(name, version string) {
				if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name, version), []byte("x"), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			for i := 1; i <= n; i++ {
				write(fmt.Sprintf("obj%07d", i), fmt.Sprintf("v%d", i))
				if i%100 == 0 {
					write(fmt.Sprintf("obj%07d", i), fmt.Sprintf("orphan%d", i))
				}
			}
			f.advance(48 * time.Hour)
			ls := time.Now()
			nl := 0
			if err := store.List(ctx, f.e.opts.TenantID+"/", "", func(backend.Listed) error { nl++; return nil }); err != nil {
				b.Fatal(err)
			}
			b.Logf("listing alone: %d keys in %v", nl, time.Since(ls))
			b.ResetTimer()
			for range b.N {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base, peak := ms.HeapAlloc, ms.HeapAlloc
				sample := func(FsckReport) {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
				start := time.Now()
				found := 0
				rep, err := f.e.Fsck(ctx, FsckOptions{Grace: time.Hour, ProgressEvery: 1000, Progress: sample},
					func(FsckFinding) error { found++; return nil })
				if err != nil {
					b.Fatal(err)
				}
				if found != n/100 || rep.Blobs != int64(n+n/100) {
					b.Fatalf("found %d orphans in %d blobs, want %d in %d", found, rep.Blobs, n/100, n+n/100)
				}
				b.ReportMetric(float64(peak-base)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(rep.Blobs)/time.Since(start).Seconds(), "keys/s")
			}
		})
	}
}
