package migrations_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// sampleData is shared by the listing tests. Byte order of the names:
// Z.txt < a.txt < dir/Y2.txt < dir/x.txt < dir/y/z.txt < dir2/k < e.txt.
const sampleData = `
insert into storage.buckets (id, name) values ('b', 'b'), ('other', 'other'), ('edge', 'edge');
insert into storage.objects (bucket_id, name, metadata, created_at, updated_at) values
	('b', 'a.txt',       '{"size": 1}',  '2024-01-01T00:00:05Z', '2024-01-01T00:00:05Z'),
	('b', 'dir/x.txt',   '{"size": 10}', '2024-01-01T00:00:03Z', '2024-01-01T00:00:03Z'),
	('b', 'dir/Y2.txt',  '{"size": 10}', '2024-01-01T00:00:07Z', '2024-01-01T00:00:07Z'),
	('b', 'dir/y/z.txt', '{"size": 100}','2024-01-01T00:00:02Z', '2024-01-01T00:00:02Z'),
	('b', 'dir2/k',      '{"size": 1000}','2024-01-01T00:00:04Z', '2024-01-01T00:00:04Z'),
	('b', 'e.txt',       '{"size": 5}',  '2024-01-01T00:00:01Z', '2024-01-01T00:00:01Z'),
	('b', 'Z.txt',       '{}',           '2024-01-01T00:00:06Z', '2024-01-01T00:00:06Z'),
	('other', 'dir/x.txt', '{"size": 7}', now(), now()),
	('edge', 'p!', '{"size": 0}', now(), now()),
	('edge', 'p/q', '{"size": 0}', now(), now());
insert into storage.s3_multipart_uploads (id, upload_signature, bucket_id, key, version, created_at) values
	('u1', 's', 'b', 'a/1', 'v', '2024-01-01T00:00:01Z'),
	('u2', 's', 'b', 'a/2', 'v', '2024-01-01T00:00:02Z'),
	('u3', 's', 'b', 'b',   'v', '2024-01-01T00:00:03Z'),
	('u4', 's', 'b', 'b',   'v', '2024-01-01T00:00:04Z'),
	('u5', 's', 'b', 'c',   'v', '2024-01-01T00:00:05Z');
`

type queryCase struct {
	name  string
	query string
	want  []string
}

// run checks each case's single text column. Listing queries render folder rows (null
// id) with a trailing "/" so one string shows both the name and the kind of row.
func run(t *testing.T, pool *pgxpool.Pool, cases []queryCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, _ := pool.Query(context.Background(), tc.query)
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatalf("%s: %v", tc.query, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s\n got  %q\n want %q", tc.query, got, tc.want)
			}
		})
	}
}

func samplePool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.Pool(t)
	if _, err := pool.Exec(context.Background(), sampleData); err != nil {
		t.Fatal(err)
	}
	return pool
}

func TestPathFunctions(t *testing.T) {
	t.Parallel()
	run(t, pgtest.Pool(t), []queryCase{
		{"foldername nested", `select array_to_string(storage.foldername('a/b/c.png'), ',')`, []string{"a,b"}},
		{"foldername top level", `select cardinality(storage.foldername('c.png'))::text`, []string{"0"}},
		{"filename nested", `select storage.filename('a/b/c.png')`, []string{"c.png"}},
		{"filename top level", `select storage.filename('c.png')`, []string{"c.png"}},
		{"extension double", `select storage.extension('a/b.tar.gz')`, []string{"gz"}},
		{"extension none", `select storage.extension('a/README')`, []string{"README"}},
		{"common prefix", `select storage.get_common_prefix('p/a/b', 'p/', '/')`, []string{"p/a/"}},
		{"common prefix none", `select coalesce(storage.get_common_prefix('p/a', 'p/', '/'), 'null')`, []string{"null"}},
		{"common prefix long delimiter", `select storage.get_common_prefix('p/a--b', 'p/', '--')`, []string{"p/a--"}},
	})
}

func TestOperationFunctions(t *testing.T) {
	t.Parallel()
	const with = `select set_config('storage.operation', 'storage.object.upload', false); `
	pool := pgtest.Pool(t)
	// One connection, so the session setting is seen by every case.
	pool.Config().MaxConns = 1
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(context.Background(), with); err != nil {
		t.Fatal(err)
	}
	cases := []queryCase{
		{"operation", `select storage.operation()`, []string{"storage.object.upload"}},
		{"only, short name", `select storage.allow_only_operation('object.upload')::text`, []string{"true"}},
		{"only, full name", `select storage.allow_only_operation('storage.object.upload')::text`, []string{"true"}},
		{"only, other", `select storage.allow_only_operation('object.get')::text`, []string{"false"}},
		{"only, empty", `select storage.allow_only_operation('')::text`, []string{"false"}},
		{"only, null", `select storage.allow_only_operation(null)::text`, []string{"false"}},
		{"any, match", `select storage.allow_any_operation(array['object.get', 'object.upload'])::text`, []string{"true"}},
		{"any, none", `select storage.allow_any_operation(array['object.get', '', null])::text`, []string{"false"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if err := conn.QueryRow(context.Background(), tc.query).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want[0] {
				t.Errorf("got %q, want %q", got, tc.want[0])
			}
		})
	}
}

func TestAuthHelpers(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	const q = `select set_config('request.jwt.claims', '{"sub":"6f0c7f2e-8d5b-4c1a-9a43-1f0a6a1f2b3c","role":"authenticated"}', true),
		auth.uid()::text, auth.role(), auth.jwt() ->> 'role'`
	var claims, uid, role, jwtRole string
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), q).Scan(&claims, &uid, &role, &jwtRole)
	})
	if err != nil {
		t.Fatal(err)
	}
	if uid != "6f0c7f2e-8d5b-4c1a-9a43-1f0a6a1f2b3c" || role != "authenticated" || jwtRole != "authenticated" {
		t.Errorf("uid %q role %q jwt role %q", uid, role, jwtRole)
	}
}

func TestGetSizeByBucket(t *testing.T) {
	t.Parallel()
	run(t, samplePool(t), []queryCase{
		{"sizes", `select bucket_id || '=' || size from storage.get_size_by_bucket() order by 1`, []string{"b=1126", "edge=0", "other=7"}},
	})
}

func TestListObjectsWithDelimiter(t *testing.T) {
	t.Parallel()
	const sel = `select case when id is null then name || '/' else name end from storage.list_objects_with_delimiter`
	run(t, samplePool(t), []queryCase{
		{"root", sel + `('b', '', '/')`, []string{"Z.txt", "a.txt", "dir/", "dir2/", "e.txt"}},
		{"max keys", sel + `('b', '', '/', 2)`, []string{"Z.txt", "a.txt"}},
		{"max keys counts folders", sel + `('b', '', '/', 3)`, []string{"Z.txt", "a.txt", "dir/"}},
		{"start after object", sel + `('b', '', '/', 100, 'a.txt')`, []string{"dir/", "dir2/", "e.txt"}},
		{"start after folder name", sel + `('b', '', '/', 100, 'dir')`, []string{"dir2/", "e.txt"}},
		{"start after folder with delimiter", sel + `('b', '', '/', 100, 'dir/')`, []string{"dir2/", "e.txt"}},
		{"next token wins", sel + `('b', '', '/', 100, 'Z.txt', 'dir2')`, []string{"e.txt"}},
		{"prefix", sel + `('b', 'dir/', '/')`, []string{"dir/Y2.txt", "dir/x.txt", "dir/y/"}},
		{"partial prefix", sel + `('b', 'di', '/')`, []string{"dir/", "dir2/"}},
		{"prefix start after nested folder", sel + `('b', 'dir/', '/', 100, 'dir/x.txt')`, []string{"dir/y/"}},
		{"start names a folder but keys sort between", sel + `('edge', '', '/', 100, 'p')`, []string{"p!"}},
		{"no delimiter", sel + `('b', 'dir', '')`, []string{"dir/Y2.txt", "dir/x.txt", "dir/y/z.txt", "dir2/k"}},
		{"desc", sel + `('b', '', '/', 100, '', '', 'desc')`, []string{"e.txt", "dir2/", "dir/", "a.txt", "Z.txt"}},
		{"desc start after", sel + `('b', '', '/', 100, 'dir2', '', 'desc')`, []string{"dir/", "a.txt", "Z.txt"}},
		{"other bucket", sel + `('other', '', '/')`, []string{"dir/"}},
		{"missing bucket", sel + `('nope', '', '/')`, []string{}},
		{"folder row is bare", `select count(*)::text from storage.list_objects_with_delimiter('b', '', '/')
			where id is null and metadata is null and updated_at is null and created_at is null`, []string{"2"}},
	})
}

func TestSearchV2(t *testing.T) {
	t.Parallel()
	const sel = `select key || ' ' || case when id is null then name || '/' else name end from storage.search_v2`
	run(t, samplePool(t), []queryCase{
		{"root", sel + `('', 'b')`, []string{"Z.txt Z.txt", "a.txt a.txt", "dir dir/", "dir2 dir2/", "e.txt e.txt"}},
		{"level 2", sel + `('dir/', 'b', 100, 2)`, []string{"Y2.txt dir/Y2.txt", "x.txt dir/x.txt", "y dir/y/"}},
		{"limit and start after", sel + `('', 'b', 2, 1, 'a.txt')`, []string{"dir dir/", "dir2 dir2/"}},
		{"desc", sel + `('', 'b', 2, 1, '', 'DESC')`, []string{"e.txt e.txt", "dir2 dir2/"}},
		{"created_at asc", sel + `('', 'b', 100, 1, '', 'asc', 'created_at')`,
			[]string{"e.txt e.txt", "dir dir/", "dir2 dir2/", "a.txt a.txt", "Z.txt Z.txt"}},
		{"created_at desc", sel + `('', 'b', 100, 1, '', 'desc', 'created_at')`,
			[]string{"Z.txt Z.txt", "a.txt a.txt", "dir2 dir2/", "dir dir/", "e.txt e.txt"}},
		{"created_at keyset", sel + `('', 'b', 100, 1, 'dir', 'asc', 'created_at', '2024-01-01T00:00:02Z')`,
			[]string{"dir2 dir2/", "a.txt a.txt", "Z.txt Z.txt"}},
		{"folder time is earliest content", `select (created_at = '2024-01-01T00:00:02Z' and updated_at = created_at)::text
			from storage.search_v2('', 'b', 100, 1, '', 'asc', 'updated_at') where name = 'dir'`, []string{"true"}},
	})
}

func TestSearchV1(t *testing.T) {
	t.Parallel()
	const sel = `select case when id is null then name || '/' else name end from storage.search`
	run(t, samplePool(t), []queryCase{
		{"root by lower name", sel + `('', 'b')`, []string{"a.txt", "dir/", "dir2/", "e.txt", "Z.txt"}},
		{"folder, relative names", sel + `('dir/', 'b')`, []string{"x.txt", "y/", "Y2.txt"}},
		{"desc", sel + `('dir/', 'b', 100, 1, 0, '', 'name', 'desc')`, []string{"Y2.txt", "y/", "x.txt"}},
		{"offset counts folders", sel + `('', 'b', 2, 1, 1)`, []string{"dir/", "dir2/"}},
		{"search is a case-insensitive prefix", sel + `('dir/', 'b', 100, 1, 0, 'Y')`, []string{"y/", "Y2.txt"}},
		{"created_at: folders first, then files by time", sel + `('', 'b', 100, 1, 0, '', 'created_at', 'asc')`,
			[]string{"dir/", "dir2/", "e.txt", "a.txt", "Z.txt"}},
		{"created_at desc", sel + `('', 'b', 100, 1, 0, '', 'created_at', 'desc')`,
			[]string{"dir2/", "dir/", "Z.txt", "a.txt", "e.txt"}},
		{"created_at literal underscore", sel + `('', 'b', 100, 1, 0, 'a_txt', 'created_at')`, []string{}},
		{"limit capped", `select count(*)::text from storage.search('', 'b', 5000)`, []string{"5"}},
	})
}

func TestListMultipartUploads(t *testing.T) {
	t.Parallel()
	const sel = `select key || ' ' || id from storage.list_multipart_uploads_with_delimiter`
	run(t, samplePool(t), []queryCase{
		{"collapsed", sel + `('b', '', '/')`, []string{"a/ u1", "b u3", "b u4", "c u5"}},
		{"no delimiter", sel + `('b', '', '')`, []string{"a/1 u1", "a/2 u2", "b u3", "b u4", "c u5"}},
		{"prefix is case-insensitive", sel + `('b', 'A/', '/')`, []string{"a/1 u1", "a/2 u2"}},
		{"key marker", sel + `('b', '', '/', 100, 'a/')`, []string{"b u3", "b u4", "c u5"}},
		{"key and upload marker", sel + `('b', '', '/', 100, 'b', 'u3')`, []string{"b u4", "c u5"}},
		{"max keys", sel + `('b', '', '/', 2)`, []string{"a/ u1", "b u3"}},
		{"prefix wildcards are literal", sel + `('b', '_', '/')`, []string{}},
		{"prefix percent is literal", sel + `('b', 'a%', '')`, []string{}},
	})
}
