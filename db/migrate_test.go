package db_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
)

// TestMain stops the package's private test cluster. It is the db package's only
// TestMain: other test files of package db (or db_test) must not declare another.
func TestMain(m *testing.M) { pgtest.Main(m) }

func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func migrate(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Migrate(ctx, pool, db.MigrateOptions{InstallRoles: true}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

// strs runs a query returning one text column.
func strs(t *testing.T, q pgxQuerier, sql string, args ...any) []string {
	t.Helper()
	rows, _ := q.Query(context.Background(), sql, args...)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

type pgxQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// catalogSnapshot renders everything Migrate may create or change as text lines, so two
// snapshots are equal exactly when the schema, grants and bookkeeping are.
const catalogSnapshot = `
select 'col ' || table_schema || '.' || table_name || '.' || column_name || ' ' || data_type || ' ' ||
       is_nullable || ' ' || coalesce(column_default, '') || ' ' || coalesce(generation_expression, '')
  from information_schema.columns where table_schema in ('storage', 'stowage', 'auth')
union all
select 'idx ' || schemaname || '.' || indexname || ' ' || indexdef from pg_indexes where schemaname in ('storage', 'stowage')
union all
select 'con ' || conrelid::regclass || '.' || conname || ' ' || pg_get_constraintdef(oid)
  from pg_constraint where connamespace in ('storage'::regnamespace, 'stowage'::regnamespace)
union all
select 'fn ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) || ' ' || coalesce((select string_agg(a::text, ',' order by a::text) from unnest(p.proacl) a), '')
  from pg_proc p where p.pronamespace in ('storage'::regnamespace, 'auth'::regnamespace)
union all
select 'trg ' || tgrelid::regclass || '.' || tgname || ' ' || pg_get_triggerdef(oid)
  from pg_trigger where not tgisinternal and tgrelid::regclass::text like 'storage.%'
union all
select 'rel ' || c.oid::regclass || ' rls=' || c.relrowsecurity || ' ' || coalesce((select string_agg(a::text, ',' order by a::text) from unnest(c.relacl) a), '')
  from pg_class c where c.relnamespace in ('storage'::regnamespace, 'stowage'::regnamespace)
union all
select 'mig ' || id || ' ' || name || ' ' || hash || ' ' || executed_at from storage.migrations
union all
select 'own ' || id || ' ' || name || ' ' || applied_at from stowage.migrations
union all
select 'defacl ' || defaclobjtype::text || ' ' || (select string_agg(a::text, ',' order by a::text) from unnest(defaclacl) a) from pg_default_acl
order by 1`

func TestMigrateFresh(t *testing.T) {
	t.Parallel()
	pool := newPool(t, pgtest.EmptyURL(t))
	migrate(t, pool)

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{
			name:  "tables",
			query: `select table_name::text from information_schema.tables where table_schema = 'storage' order by 1`,
			want: []string{"buckets", "buckets_analytics", "buckets_vectors", "iceberg_namespaces", "iceberg_tables",
				"migrations", "objects", "s3_multipart_uploads", "s3_multipart_uploads_parts", "vector_indexes"},
		},
		{
			name:  "functions",
			query: `select proname::text from pg_proc where pronamespace = 'storage'::regnamespace order by 1`,
			want: []string{"allow_any_operation", "allow_only_operation", "can_insert_object", "enforce_bucket_name_length",
				"extension", "filename", "foldername", "get_common_prefix", "get_size_by_bucket",
				"list_multipart_uploads_with_delimiter", "list_objects_with_delimiter", "operation",
				"protect_delete", "search", "search_by_timestamp", "search_v2", "update_updated_at_column"},
		},
		{
			name:  "objects indexes",
			query: `select indexname::text from pg_indexes where schemaname = 'storage' and tablename = 'objects' order by 1`,
			want: []string{"bucketid_objname", "idx_objects_bucket_id_name", "idx_objects_bucket_id_name_lower",
				"name_prefix_search", "objects_pkey"},
		},
		{
			name: "other named indexes",
			query: `select indexname::text from pg_indexes where schemaname = 'storage'
				and indexname in ('bname', 'buckets_pkey', 'idx_multipart_uploads_list', 'buckets_analytics_unique_name_idx') order by 1`,
			want: []string{"bname", "buckets_analytics_unique_name_idx", "buckets_pkey", "idx_multipart_uploads_list"},
		},
		{
			name: "triggers",
			query: `select tgrelid::regclass || '.' || tgname from pg_trigger
				where not tgisinternal and tgrelid::regclass::text like 'storage.%' order by 1`,
			want: []string{"storage.buckets.enforce_bucket_name_length_trigger", "storage.buckets.protect_buckets_delete",
				"storage.objects.protect_objects_delete", "storage.objects.update_objects_updated_at"},
		},
		{
			name: "constraints",
			query: `select conname::text from pg_constraint where conrelid in ('storage.buckets'::regclass, 'storage.objects'::regclass)
				and contype in ('c', 'f') order by 1`,
			want: []string{"buckets_versioning_dark_check", "buckets_versioning_standard_only_check",
				"buckets_versioning_status_check", "objects_bucketId_fkey"},
		},
		{
			name:  "tables without row level security",
			query: `select relname::text from pg_class where relnamespace = 'storage'::regnamespace and relkind = 'r' and not relrowsecurity`,
			want:  nil,
		},
		{
			name:  "policies",
			query: `select policyname::text from pg_policies where schemaname = 'storage'`,
			want:  nil,
		},
		{
			name:  "legacy prefixes machinery",
			query: `select 'prefixes' where to_regclass('storage.prefixes') is not null union all select column_name::text from information_schema.columns where table_schema = 'storage' and table_name = 'objects' and column_name = 'level'`,
			want:  nil,
		},
		{
			name:  "enum values",
			query: `select unnest(enum_range(null::storage.buckettype))::text`,
			want:  []string{"STANDARD", "ANALYTICS", "VECTOR"},
		},
		{
			name:  "first and last bookkeeping rows",
			query: `select id || ' ' || name from storage.migrations where id in (0, 1, 62, 63) order by id`,
			want:  []string{"0 create-migrations-table", "1 initialmigration", "62 object-versioning-core", "63 fix-search-name-relative-to-prefix"},
		},
		{
			name:  "bookkeeping shape",
			query: `select count(*) || ' ' || count(distinct name) || ' ' || bool_and(hash ~ '^[0-9a-f]{40}$') || ' ' || max(id) from storage.migrations`,
			want:  []string{"64 64 true 63"},
		},
		{
			name:  "stowage migrations",
			query: `select id || ' ' || name from stowage.migrations order by id`,
			want:  []string{"1 blob_intents", "3 tus_uploads", "4 tus_tail", "5 part_checksums", "6 object_parts", "7 completed_uploads", "8 bucket_tags", "9 events", "10 versioning", "11 admin_credentials", "12 traffic_minutes", "14 tus_md5", "15 event_claim_order", "16 event_route_mark", "17 small_blobs"},
		},
		{
			name:  "auth helpers",
			query: `select p.oid::regprocedure::text from pg_proc p where pronamespace = 'auth'::regnamespace order by 1`,
			want:  []string{"auth.jwt()", "auth.role()", "auth.uid()"},
		},
		{
			name: "grants",
			query: `select r || ' ' || t || ' ' || p || ' ' || has_table_privilege(r, t, p) from
				(values ('anon', 'storage.objects', 'delete'), ('authenticated', 'storage.buckets', 'insert'),
				        ('anon', 'storage.s3_multipart_uploads', 'select'), ('anon', 'storage.s3_multipart_uploads', 'insert'),
				        ('service_role', 'storage.s3_multipart_uploads_parts', 'insert'),
				        ('service_role', 'stowage.blob_intents', 'delete'), ('anon', 'stowage.blob_intents', 'select'),
				        ('authenticated', 'stowage.blob_intents', 'insert'),
				        ('service_role', 'stowage.object_parts', 'insert'), ('anon', 'stowage.object_parts', 'select'),
				        ('service_role', 'stowage.bucket_tags', 'insert'), ('authenticated', 'stowage.bucket_tags', 'select'),
				        ('service_role', 'stowage.tenants_s3_credentials', 'select'), ('anon', 'stowage.tenants_s3_credentials', 'select'),
				        ('authenticated', 'stowage.tenants_jwks', 'select')) as g(r, t, p)`,
			want: []string{"anon storage.objects delete true", "authenticated storage.buckets insert true",
				"anon storage.s3_multipart_uploads select true", "anon storage.s3_multipart_uploads insert false",
				"service_role storage.s3_multipart_uploads_parts insert true",
				"service_role stowage.blob_intents delete true", "anon stowage.blob_intents select false",
				"authenticated stowage.blob_intents insert false",
				"service_role stowage.object_parts insert true", "anon stowage.object_parts select false",
				"service_role stowage.bucket_tags insert true", "authenticated stowage.bucket_tags select false",
				"service_role stowage.tenants_s3_credentials select true", "anon stowage.tenants_s3_credentials select false",
				"authenticated stowage.tenants_jwks select false"},
		},
		{
			name: "roles",
			query: `select rolname || ' ' || rolbypassrls || ' ' || rolinherit || ' ' || rolcanlogin from pg_roles
				where rolname in ('anon', 'authenticated', 'service_role', 'authenticator') order by 1`,
			want: []string{"anon false false false", "authenticated false false false",
				"authenticator false false true", "service_role true false false"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strs(t, pool, tc.query)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	t.Parallel()
	pool := newPool(t, pgtest.EmptyURL(t))
	migrate(t, pool)
	before := strs(t, pool, catalogSnapshot)
	migrate(t, pool)
	after := strs(t, pool, catalogSnapshot)
	if diff := lineDiff(before, after); diff != "" {
		t.Errorf("second Migrate changed the catalog:\n%s", diff)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		pool := newPool(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errs[i] = db.Migrate(ctx, pool, db.MigrateOptions{InstallRoles: true})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	pool := newPool(t, url)
	if got := strs(t, pool, `select count(*)::text from storage.migrations`); !slices.Equal(got, []string{"64"}) {
		t.Errorf("storage.migrations rows = %v, want 64", got)
	}
}

func TestMigrateMissingRoles(t *testing.T) {
	t.Parallel()
	pool := newPool(t, pgtest.EmptyURL(t))
	err := db.Migrate(context.Background(), pool, db.MigrateOptions{
		AnonRole:    "stowage_test_no_such_anon",
		ServiceRole: "stowage_test_no_such_service",
	})
	if err == nil {
		t.Fatal("Migrate succeeded without the roles")
	}
	for _, name := range []string{"stowage_test_no_such_anon", "stowage_test_no_such_service"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if got := strs(t, pool, `select nspname::text from pg_namespace where nspname in ('storage', 'stowage')`); len(got) > 0 {
		t.Errorf("failed Migrate created schemas %q", got)
	}
}

// TestAdoptReferenceDatabase: a database at reference level 63 belongs to the reference
// (or Supabase): Migrate must not touch its storage schema, whatever it finds there.
func TestAdoptReferenceDatabase(t *testing.T) {
	t.Parallel()
	pool := newPool(t, pgtest.EmptyURL(t))
	migrate(t, pool)
	exec(t, pool, `
		create or replace function storage.foldername(name text) returns text[]
		language sql immutable as $$ select array['their-version'] $$;
		create or replace function storage.search_v2(prefix text, bucket_name text, limits integer default 100,
			levels integer default 1, start_after text default '', sort_order text default 'asc',
			sort_column text default 'name', sort_column_after text default '')
		returns table (key text, name text, id uuid, updated_at timestamptz, created_at timestamptz,
			last_accessed_at timestamptz, metadata jsonb)
		language sql stable as $$ select 'marker', null, null::uuid, null::timestamptz, null::timestamptz, null::timestamptz, null::jsonb $$;
		update storage.migrations set hash = md5(name)::varchar(32) || 'abcdefgh';
		drop index storage.name_prefix_search;
		alter table storage.buckets disable row level security;
		insert into storage.buckets (id, name) values ('theirs', 'theirs');
		insert into storage.objects (bucket_id, name, metadata) values ('theirs', 'keep/me.txt', '{"size": 3}');
		insert into storage.migrations (id, name, hash) values (64, 'a-future-migration', 'ffff')`)
	before := strs(t, pool, catalogSnapshot)
	migrate(t, pool)
	after := strs(t, pool, catalogSnapshot)
	if diff := lineDiff(before, after); diff != "" {
		t.Errorf("Migrate changed an adopted storage schema:\n%s", diff)
	}
	tests := []struct {
		name, query string
		want        []string
	}{
		{"function body kept", `select array_to_string(storage.foldername('a/b'), ',')`, []string{"their-version"}},
		{"rows kept", `select name from storage.objects where bucket_id = 'theirs'`, []string{"keep/me.txt"}},
		{"hashes kept", `select count(*)::text from storage.migrations where hash like '%abcdefgh'`, []string{"64"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strs(t, pool, tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestUpgradeFromLowerLevel: a database the reference left at migration 50 (later columns
// missing, the prefixes machinery still there, an older search_v2) is brought up to 63
// keeping every row.
func TestUpgradeFromLowerLevel(t *testing.T) {
	t.Parallel()
	pool := newPool(t, pgtest.EmptyURL(t))
	migrate(t, pool)
	exec(t, pool, `
		delete from storage.migrations where id > 50;
		update storage.migrations set hash = 'their-hash-' || id;
		alter table storage.buckets drop column versioning_status;
		alter table storage.objects drop column archived_at, drop column is_delete_marker, drop column is_versioned,
			drop column user_metadata;
		drop function storage.allow_any_operation(text[]);
		drop trigger protect_objects_delete on storage.objects;
		drop index storage.idx_objects_bucket_id_name_lower;
		drop function storage.search_v2(text, text, integer, integer, text, text, text, text);
		create function storage.search_v2(prefix text, bucket_name text, limits integer default 100,
			levels integer default 1, start_after text default '')
		returns table (key text, name text, id uuid, updated_at timestamptz, created_at timestamptz, metadata jsonb)
		language sql stable as $$ select null::text, null::text, null::uuid, null::timestamptz, null::timestamptz, null::jsonb where false $$;
		alter table storage.objects add column level integer;
		create table storage.prefixes (bucket_id text, name text collate "C" not null, level integer, primary key (bucket_id, level, name));
		create function storage.get_level(name text) returns integer language sql immutable as $$ select array_length(string_to_array(name, '/'), 1) $$;
		create function storage.objects_update_level_trigger() returns trigger language plpgsql as $$ begin new.level := storage.get_level(new.name); return new; end $$;
		create trigger objects_update_level_trigger before insert or update on storage.objects
			for each row execute function storage.objects_update_level_trigger();
		insert into storage.buckets (id, name, public) values ('old', 'old', true);
		insert into storage.objects (bucket_id, name, metadata, version)
			select 'old', 'f' || i || '/obj.txt', jsonb_build_object('size', i), 'v' || i from generate_series(1, 20) i;
		insert into storage.prefixes (bucket_id, name, level) values ('old', 'f1', 1)`)
	hashesBefore := strs(t, pool, `select id || ' ' || hash from storage.migrations order by id`)
	rowsBefore := strs(t, pool, `select name || ' ' || metadata::text || ' ' || version || ' ' || id from storage.objects order by name`)

	migrate(t, pool)

	fresh := newPool(t, pgtest.URL(t))
	if diff := lineDiff(schemaOnly(strs(t, fresh, catalogSnapshot)), schemaOnly(strs(t, pool, catalogSnapshot))); diff != "" {
		t.Errorf("upgraded schema differs from a fresh one (- fresh, + upgraded):\n%s", diff)
	}
	tests := []struct {
		name, query string
		want        []string
	}{
		{"rows kept", `select name || ' ' || metadata::text || ' ' || version || ' ' || id from storage.objects order by name`, rowsBefore},
		{"hashes of applied migrations kept", `select id || ' ' || hash from storage.migrations where id <= 50 order by id`, hashesBefore},
		{"missing migrations recorded", `select count(*)::text from storage.migrations`, []string{"64"}},
		{"new columns have defaults", `select distinct is_versioned || ' ' || is_delete_marker from storage.objects`, []string{"false false"}},
		{"bucket columns", `select versioning_status || ' ' || public from storage.buckets`, []string{"DISABLED true"}},
		{"search_v2 works", `select count(*)::text from storage.search_v2('', 'old')`, []string{"20"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strs(t, pool, tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// schemaOnly drops snapshot lines that legitimately differ between two databases:
// bookkeeping rows (times, hashes) and column positions are compared elsewhere.
func schemaOnly(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "mig ") || strings.HasPrefix(l, "own ") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// lineDiff lists lines only in a ("-") or only in b ("+").
func lineDiff(a, b []string) string {
	var sb strings.Builder
	for _, l := range a {
		if !slices.Contains(b, l) {
			sb.WriteString("- " + l + "\n")
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			sb.WriteString("+ " + l + "\n")
		}
	}
	return sb.String()
}

func TestProtectDelete(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	exec(t, pool, `insert into storage.buckets (id, name) values ('b', 'b');
		insert into storage.objects (bucket_id, name) values ('b', 'x')`)
	ctx := context.Background()

	tests := []struct {
		name    string
		setting string // storage.allow_delete_query for the transaction; "" leaves it unset
		table   string
		wantErr bool
	}{
		{name: "objects without the setting", table: "storage.objects", wantErr: true},
		{name: "buckets without the setting", table: "storage.buckets", wantErr: true},
		{name: "objects with false", setting: "false", table: "storage.objects", wantErr: true},
		{name: "objects with true", setting: "true", table: "storage.objects", wantErr: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if tc.setting != "" {
					if _, err := tx.Exec(ctx, `select set_config('storage.allow_delete_query', $1, true)`, tc.setting); err != nil {
						return err
					}
				}
				_, err := tx.Exec(ctx, "delete from "+tc.table)
				if err == nil {
					return errors.New("rolled back on purpose")
				}
				return err
			})
			var pgErr *pgconn.PgError
			switch {
			case tc.wantErr && !(errors.As(err, &pgErr) && pgErr.Code == "42501"):
				t.Errorf("got %v, want SQLSTATE 42501", err)
			case !tc.wantErr && err.Error() != "rolled back on purpose":
				t.Errorf("delete failed: %v", err)
			}
		})
	}
}

func TestRowLevelSecurityDefaults(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	exec(t, pool, `insert into storage.buckets (id, name) values ('b', 'b');
		insert into storage.objects (bucket_id, name) values ('b', 'x'), ('b', 'y')`)
	ctx := context.Background()
	tests := []struct {
		role string
		want int
	}{
		{"anon", 0},
		{"authenticated", 0},
		{"service_role", 2},
	}
	for _, tc := range tests {
		t.Run(tc.role, func(t *testing.T) {
			var n int
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `select set_config('role', $1, true)`, tc.role); err != nil {
					return err
				}
				return tx.QueryRow(ctx, `select count(*) from storage.objects`).Scan(&n)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Errorf("%s sees %d objects, want %d", tc.role, n, tc.want)
			}
		})
	}
	t.Run("anon insert", func(t *testing.T) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `set local role anon`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `insert into storage.objects (bucket_id, name) values ('b', 'z')`)
			return err
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("got %v, want SQLSTATE 42501", err)
		}
	})
}

func TestBucketNameLength(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	tests := []struct {
		name    string
		length  int
		wantErr bool
	}{
		{"100 characters", 100, false},
		{"101 characters", 101, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.Repeat("a", tc.length)
			_, err := pool.Exec(context.Background(), `insert into storage.buckets (id, name) values ($1, $1)`, name)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "is too long (101 characters). Max is 100.") {
				t.Errorf("unexpected message: %v", err)
			}
		})
	}
}
