// Package migrations creates, upgrades or adopts the database Stowage runs on: the
// Supabase `storage` schema exactly as the reference server leaves it after its migration
// 63 (spec/schema.md), the API roles and auth helpers it needs, and Stowage's own schema
// `stowage`. The SQL is embedded and applied in order, each file in its own transaction.
//
// It is a package of its own, below db, so that pgtest can migrate template databases
// without importing db, and db's own tests can use pgtest. Callers use db.Migrate.
//
// Rules the SQL keeps:
//   - Adoption: when storage.migrations already records reference migration 63 (or later),
//     nothing is run against the storage schema; the reference (or Supabase) owns it.
//   - Below that level every statement is safe on an existing schema (IF NOT EXISTS,
//     ADD COLUMN IF NOT EXISTS, guarded DO blocks): rows are kept, missing parts added.
//   - Running twice changes nothing; concurrent runs are serialised by an advisory lock.
package migrations

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed prelude/*.sql storage/*.sql stowage/*.sql multitenant/*.sql
var files embed.FS

// Options mirrors db.MigrateOptions; see there.
type Options struct {
	InstallRoles      bool
	AnonRole          string
	AuthenticatedRole string
	ServiceRole       string
	SuperUser         string
}

func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.AnonRole, "anon")
	def(&o.AuthenticatedRole, "authenticated")
	def(&o.ServiceRole, "service_role")
	def(&o.SuperUser, "postgres")
	return o
}

// ReferenceLevel is the id of the last reference migration our storage SQL reproduces.
const ReferenceLevel = 63

// referenceNames are the reference's migration names by id (schema.md §1.1). We record
// all of them so that a reference server pointed at our database finds nothing to do.
var referenceNames = [ReferenceLevel + 1]string{
	"create-migrations-table", "initialmigration", "storage-schema", "pathtoken-column",
	"add-migrations-rls", "add-size-functions", "change-column-name-in-get-size",
	"add-rls-to-buckets", "add-public-to-buckets", "fix-search-function",
	"search-files-search-function", "add-trigger-to-auto-update-updated_at-column",
	"add-automatic-avif-detection-flag", "add-bucket-custom-limits", "use-bytes-for-max-size",
	"add-can-insert-object-function", "add-version", "drop-owner-foreign-key",
	"add_owner_id_column_deprecate_owner", "alter-default-value-objects-id",
	"list-objects-with-delimiter", "s3-multipart-uploads", "s3-multipart-uploads-big-ints",
	"optimize-search-function", "operation-function", "custom-metadata", "objects-prefixes",
	"search-v2", "object-bucket-name-sorting", "create-prefixes", "update-object-levels",
	"objects-level-index", "backward-compatible-index-on-objects",
	"backward-compatible-index-on-prefixes", "optimize-search-function-v1",
	"add-insert-trigger-prefixes", "optimise-existing-functions",
	"add-bucket-name-length-trigger", "iceberg-catalog-flag-on-buckets",
	"add-search-v2-sort-support", "fix-prefix-race-conditions-optimized",
	"add-object-level-update-trigger", "rollback-prefix-triggers", "fix-object-level",
	"vector-bucket-type", "vector-buckets", "buckets-objects-grants", "iceberg-table-metadata",
	"iceberg-catalog-ids", "buckets-objects-grants-postgres", "search-v2-optimised",
	"index-backward-compatible-search", "drop-not-used-indexes-and-functions",
	"drop-index-lower-name", "drop-index-object-level", "prevent-direct-deletes",
	"fix-optimized-search-function", "s3-multipart-uploads-metadata", "operation-ergonomics",
	"drop-unused-functions", "optimize-existing-functions-again", "mark-filename-immutable",
	"object-versioning-core", "fix-search-name-relative-to-prefix",
}

// Latest names what a fully migrated database records: the last reference migration's
// name in storage.migrations and the highest id in stowage.migrations.
func Latest() (reference string, stowage int) {
	own, _ := readDir("stowage") // embedded: cannot fail once the package's tests pass
	for _, f := range own {
		stowage = max(stowage, f.id)
	}
	return referenceNames[ReferenceLevel], stowage
}

// lockKey is the pg_advisory_lock key serialising Migrate calls on one database
// ("stowage" in ASCII). Advisory locks are per database, so other databases of the
// cluster are not blocked.
const lockKey int64 = 0x73746f77616765

// Apply brings the database behind pool to the current schema. See the package comment.
func Apply(ctx context.Context, pool *pgxpool.Pool, opts Options) error {
	opts = opts.withDefaults()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()

	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("migrate: take migration lock: %w", err)
	}
	defer unlock(ctx, conn)

	if err := applyRoles(ctx, conn.Conn(), opts); err != nil {
		return err
	}
	if err := applyStorage(ctx, conn.Conn(), opts); err != nil {
		return err
	}
	return applyStowage(ctx, conn.Conn(), opts)
}

// unlock releases the session lock even when ctx is done; if that fails the connection
// is closed (which releases it too) so the pool never hands out a connection holding it.
func unlock(ctx context.Context, conn *pgxpool.Conn) { unlockKey(ctx, conn, lockKey) }

// unlockKey releases the session advisory lock key (see unlock).
func unlockKey(ctx context.Context, conn *pgxpool.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "select pg_advisory_unlock($1)", key); err != nil {
		_ = conn.Conn().Close(ctx)
	}
}

// Checksum identifies the embedded SQL: equal checksums mean identical migrations. Test
// harnesses name their template databases after it.
func Checksum() string {
	h := sha256.New()
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}

// sqlFile is one embedded migration file.
type sqlFile struct {
	id   int    // from the "NNNN_" prefix of stowage files; order only elsewhere
	name string // file name without the numeric prefix and ".sql"
	path string
	sql  string
}

// readDir returns dir's SQL files sorted by name.
func readDir(dir string) ([]sqlFile, error) {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var out []sqlFile
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		b, err := files.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		id, convErr := strconv.Atoi(num)
		if !ok || convErr != nil {
			return nil, fmt.Errorf("migrate: %s: file name must be NN_name.sql", p)
		}
		out = append(out, sqlFile{id: id, name: name, path: p, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// setSessionGUCs is the first statement of every migration transaction: the settings the
// reference sets before migrating (schema.md §1.1), read by our SQL through
// current_setting, and the reference's search_path. All are transaction-local.
const setSessionGUCs = `select
	set_config('search_path', 'storage, public, extensions', true),
	set_config('storage.install_roles', $1, true),
	set_config('storage.multitenant', 'false', true),
	set_config('storage.anon_role', $2, true),
	set_config('storage.authenticated_role', $3, true),
	set_config('storage.service_role', $4, true),
	set_config('storage.super_user', $5, true)`

// runFile executes f in its own transaction, then after (if any) in the same one.
func runFile(ctx context.Context, conn *pgx.Conn, opts Options, f sqlFile, after func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setSessionGUCs, strconv.FormatBool(opts.InstallRoles),
			opts.AnonRole, opts.AuthenticatedRole, opts.ServiceRole, opts.SuperUser); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, f.sql); err != nil {
			return err
		}
		if after != nil {
			return after(tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %s: %w", f.path, err)
	}
	return nil
}

// applyRoles creates the API roles when asked to, checks they exist, and installs the
// auth helpers a non-Supabase database lacks.
func applyRoles(ctx context.Context, conn *pgx.Conn, opts Options) error {
	prelude, err := readDir("prelude")
	if err != nil {
		return err
	}
	byName := map[string]sqlFile{}
	for _, f := range prelude {
		byName[f.name] = f
	}
	if opts.InstallRoles {
		if err := runRetryingRoleRaces(ctx, conn, opts, byName["roles"]); err != nil {
			return err
		}
	}
	want := []string{opts.AnonRole, opts.AuthenticatedRole, opts.ServiceRole, opts.SuperUser}
	rows, _ := conn.Query(ctx, `select r from unnest($1::text[]) as r
		where not exists (select 1 from pg_roles where rolname = r)`, want)
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("migrate: look up roles: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("migrate: database role(s) %s do not exist: create them, or set DB_INSTALL_ROLES=true to let Stowage create them",
			strings.Join(missing, ", "))
	}
	return runFile(ctx, conn, opts, byName["auth"], nil)
}

// runRetryingRoleRaces runs the role file, retrying when a migration of another database
// in the same cluster changed the shared role catalog at the same moment (the advisory
// lock only covers one database).
func runRetryingRoleRaces(ctx context.Context, conn *pgx.Conn, opts Options, f sqlFile) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = runFile(ctx, conn, opts, f, nil); err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			return err
		}
		switch pgErr.Code {
		case "23505", "42710", "XX000", "40001", "40P01": // unique, duplicate object, "tuple concurrently updated", serialization, deadlock
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	return err
}

// storageLevel is the highest id in storage.migrations, -1 without that table.
func storageLevel(ctx context.Context, conn *pgx.Conn) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `select to_regclass('storage.migrations') is not null`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	if !exists {
		return -1, nil
	}
	var level int
	if err := conn.QueryRow(ctx, `select coalesce(max(id), -1) from storage.migrations`).Scan(&level); err != nil {
		return 0, fmt.Errorf("migrate: read storage.migrations: %w", err)
	}
	return level, nil
}

// applyStorage runs the storage files unless the reference's last migration is recorded,
// and then records all reference migrations, keeping rows that are already there.
func applyStorage(ctx context.Context, conn *pgx.Conn, opts Options) error {
	level, err := storageLevel(ctx, conn)
	if err != nil {
		return err
	}
	if level >= ReferenceLevel {
		return nil
	}
	storage, err := readDir("storage")
	if err != nil {
		return err
	}
	var all strings.Builder
	for _, f := range storage {
		all.WriteString(f.sql)
	}
	ids := make([]int32, len(referenceNames))
	hashes := make([]string, len(referenceNames))
	for i, name := range referenceNames {
		ids[i] = int32(i)
		sum := sha1.Sum([]byte(name + all.String()))
		hashes[i] = hex.EncodeToString(sum[:])
	}
	record := func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `insert into storage.migrations (id, name, hash)
			select * from unnest($1::int[], $2::text[], $3::text[])
			on conflict do nothing`, ids, referenceNames[:], hashes)
		return err
	}
	for i, f := range storage {
		var after func(pgx.Tx) error
		if i == len(storage)-1 {
			after = record
		}
		if err := runFile(ctx, conn, opts, f, after); err != nil {
			return err
		}
	}
	return nil
}

// applyStowage runs the stowage files not yet recorded in stowage.migrations.
func applyStowage(ctx context.Context, conn *pgx.Conn, opts Options) error {
	// A DO block, not CREATE SCHEMA IF NOT EXISTS, which demands CREATE on the database
	// even when the schema exists.
	const bootstrap = `
		do $$ begin
			if not exists (select 1 from pg_namespace where nspname = 'stowage') then
				create schema stowage;
			end if;
		end $$;
		create table if not exists stowage.migrations (
			id integer primary key,
			name text,
			applied_at timestamptz default now()
		);`
	if _, err := conn.Exec(ctx, bootstrap); err != nil {
		return fmt.Errorf("migrate: create stowage.migrations: %w", err)
	}
	rows, _ := conn.Query(ctx, `select id from stowage.migrations`)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("migrate: read stowage.migrations: %w", err)
	}
	done := map[int]bool{}
	for _, id := range applied {
		done[int(id)] = true
	}
	own, err := readDir("stowage")
	if err != nil {
		return err
	}
	for _, f := range own {
		if done[f.id] {
			continue
		}
		err := runFile(ctx, conn, opts, f, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `insert into stowage.migrations (id, name) values ($1, $2)`, f.id, f.name)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
