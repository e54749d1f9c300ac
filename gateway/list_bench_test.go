package gateway

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/backend/filebackend"
)

// BenchmarkListObjects1M lists 1,000-key pages (as S3 ListObjectsV2 does, through the
// engine) of a bucket of 1,000,000 objects whose rows are inserted directly by SQL, with the
// system metadata an SDK's PutObject leaves (a CRC32 checksum included). It reports the p50
// latency of each page next to the mean, the CPU the engine's process spent per page
// (Postgres's is not included), and logs (with -test.v) the plan
// of the deep page's statement. The pages: "first" is the bucket's first page; "deep"
// starts after the 998,999th key; "prefix" is the first page under a prefix holding 100,000
// keys; "delimiter" lists with delimiter "/" at the top, where the keys are 1,000 folders of
// 1,000 keys, so every entry is a common prefix.
//
//	go test -c -o /tmp/gw.test ./gateway/ && /tmp/gw.test -test.run '^$' -test.bench ListObjects1M -test.benchtime 20x -test.timeout 60m
func BenchmarkListObjects1M(b *testing.B) {
	ctx := context.Background()
	d, err := db.Open(ctx, pgtest.URL(b), db.Options{MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	store, err := filebackend.New(b.TempDir(), filebackend.Options{NoFsync: true})
	if err != nil {
		b.Fatal(err)
	}
	e := New(d, store, Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute})
	if _, err := e.CreateBucket(ctx, service(), CreateBucket{ID: "big", FileSizeLimit: NoLimit}); err != nil {
		b.Fatal(err)
	}
	meta := string(buildMetadataExtra(4096, `"0123456789abcdef0123456789abcdef"`, "application/octet-stream", "no-cache", "",
		time.Now(), Extra{ChecksumAlgorithm: "CRC32", Checksum: "AAAAAA=="}))
	t0 := time.Now()
	// Keys d000/k000000 … d999/k999999: 1,000 folders of 1,000 keys.
	for _, q := range []string{
		`insert into storage.objects (bucket_id, name, metadata, version, owner_id)
			select 'big', 'd' || lpad((g / 1000)::text, 3, '0') || '/k' || lpad(g::text, 6, '0'), $1::jsonb,
			       gen_random_uuid()::text, ''
			from generate_series(0, 999999) g`,
		`analyze storage.objects`,
	} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, meta)
		}
		if _, err := d.Pool().Exec(ctx, q, args...); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("1,000,000 rows inserted and analyzed in %s", time.Since(t0).Round(time.Millisecond))

	rows, err := d.Pool().Query(ctx, `explain (analyze, buffers, costs off, timing off)
		select id, name, metadata, updated_at from storage.objects
		where bucket_id = 'big' and name collate "C" > 'd999/k999000' and name collate "C" >= ''
		order by name collate "C" limit 1000`)
	if err != nil {
		b.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		_ = rows.Scan(&line)
		plan = append(plan, line)
	}
	rows.Close()
	b.Logf("deep page plan:\n%s", strings.Join(plan, "\n"))

	for _, tc := range []struct {
		name string
		in   ListObjects
	}{
		{"first", ListObjects{Bucket: "big", MaxKeys: 1000}},
		{"deep", ListObjects{Bucket: "big", StartAfter: "d998/k998999", MaxKeys: 1000}},
		{"prefix", ListObjects{Bucket: "big", Prefix: "d5", MaxKeys: 1000}},
		{"delimiter", ListObjects{Bucket: "big", Delimiter: "/", MaxKeys: 1000}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var lat []time.Duration
			cpu0 := processCPU()
			for b.Loop() {
				s := time.Now()
				res, err := e.ListObjects(ctx, service(), tc.in)
				lat = append(lat, time.Since(s))
				if err != nil {
					b.Fatal(err)
				}
				if n := len(res.Objects) + len(res.CommonPrefixes); n != 1000 {
					b.Fatalf("%d entries", n)
				}
			}
			cpu := processCPU() - cpu0
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(lat)), "gateway-cpu-ms/op")
		})
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkObjectFromRow decodes the row of an object stored with a checksum (as SDK
// uploads are): a listing page decodes 1,000 of them.
func BenchmarkObjectFromRow(b *testing.B) {
	meta := buildMetadataExtra(4096, `"0123456789abcdef0123456789abcdef"`, "application/octet-stream", "no-cache", "",
		time.Now(), Extra{ChecksumAlgorithm: "CRC32", Checksum: "AAAAAA=="})
	r := db.Object{ID: "c0ffee00-0000-4000-8000-000000000000", BucketID: "big", Name: "d000/k000001", Metadata: meta,
		UserMetadata: []byte("null"), UpdatedAt: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if o := objectFromRow(r); o.Size != 4096 || o.Extra.ChecksumAlgorithm != "CRC32" {
			b.Fatalf("%+v", o)
		}
	}
}
