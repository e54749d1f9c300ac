package db

import (
	"context"
	"strings"
	"testing"

	"github.com/stowage/stowage/db/pgtest"
)

// BenchmarkListObjectsPage reads 1,000-key pages of a 200,000-object bucket: the first page
// and one deep in the bucket (start-after near the end). Both are one range scan of
// idx_objects_bucket_id_name from the start key, so a deep page costs what the first does;
// the plan is logged once.
func BenchmarkListObjectsPage(b *testing.B) {
	ctx := context.Background()
	url := pgtest.URL(b)
	d, err := Open(ctx, url, Options{MaxConns: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for _, q := range []string{
		`insert into storage.buckets (id, name) values ('big', 'big')`,
		`insert into storage.objects (bucket_id, name, metadata, version)
			select 'big', 'dir/' || lpad(g::text, 7, '0'), '{"size":4096,"eTag":"\"0123456789abcdef0123456789abcdef\""}', gen_random_uuid()::text
			from generate_series(1, 200000) g`,
		`analyze storage.objects`,
	} {
		if _, err := d.Pool().Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	service := Scope{Role: "service_role"}
	var plan []string
	rows, err := d.Pool().Query(ctx, `explain (analyze, costs off, timing off) select id from storage.objects
		where bucket_id = 'big' and name collate "C" > 'dir/0199000' and name collate "C" >= 'dir/'
		  and name collate "C" < 'dir0' order by name collate "C" limit 1001`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var line string
		_ = rows.Scan(&line)
		plan = append(plan, line)
	}
	rows.Close()
	b.Logf("deep page plan:\n%s", strings.Join(plan, "\n"))
	for _, tc := range []struct{ name, after string }{
		{"first", ""},
		{"deep", "dir/0199000"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				err := d.InTx(ctx, service, func(tx Tx) error {
					objs, err := tx.ListObjects(ctx, "big", "dir/", tc.after, "", 1001)
					if err == nil && len(objs) != 1000 && len(objs) != 1001 {
						b.Fatalf("%d objects", len(objs))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
