package db

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// This file is the SQL of multi-tenant mode's control database (DATABASE_MULTITENANT_URL,
// schema in migrations/multitenant): the reference's `tenants` table, read by the data
// plane and written by the admin API, and the fleet-migration progress table.

// TenantsChannel is the channel the control database notifies on after a tenant row
// changed; the payload is the tenant id as a JSON string ("<id>"), as the reference's.
const TenantsChannel = "tenants_update"

// TenantRow is one row of the tenants table, secrets still encrypted. Nullable columns
// read as their zero value.
type TenantRow struct {
	ID                               string
	AnonKey, ServiceKey, JWTSecret   string
	DatabaseURL, DatabasePoolURL     string
	JWKS                             string // the jsonb document as text, "" when null
	MaxConnections                   int
	FileSizeLimit                    int64
	ImageTransformation, S3Protocol  bool
	ImageTransformationMaxResolution int
	MigrationsVersion                string
	MigrationsStatus                 string
	TracingMode                      string
	CursorID                         int
}

const tenantSelect = `select id, anon_key, service_key, jwt_secret, database_url,
	coalesce(database_pool_url, ''), coalesce(jwks::text, ''), coalesce(max_connections, 0),
	file_size_limit, feature_image_transformation, feature_s3_protocol,
	coalesce(image_transformation_max_resolution, 0), coalesce(migrations_version, ''),
	coalesce(migrations_status, ''), coalesce(tracing_mode, ''), cursor_id
	from tenants`

func scanTenant(row pgx.Row) (TenantRow, error) {
	var t TenantRow
	err := row.Scan(&t.ID, &t.AnonKey, &t.ServiceKey, &t.JWTSecret, &t.DatabaseURL,
		&t.DatabasePoolURL, &t.JWKS, &t.MaxConnections, &t.FileSizeLimit, &t.ImageTransformation,
		&t.S3Protocol, &t.ImageTransformationMaxResolution, &t.MigrationsVersion,
		&t.MigrationsStatus, &t.TracingMode, &t.CursorID)
	return t, err
}

// ControlTenant reads one tenant row; ErrNotFound when there is none.
func ControlTenant(ctx context.Context, pool *pgxpool.Pool, id string) (TenantRow, error) {
	t, err := scanTenant(pool.QueryRow(ctx, tenantSelect+` where id = $1`, id))
	return t, Classify(err)
}

// ControlTenants reads every tenant row, in cursor order (creation order).
func ControlTenants(ctx context.Context, pool *pgxpool.Pool) ([]TenantRow, error) {
	rows, err := pool.Query(ctx, tenantSelect+` order by cursor_id`)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TenantRow, error) { return scanTenant(r) })
	return out, Classify(err)
}

// tenantWritable lists the columns TenantColumns may name (identifiers are never taken
// from a request).
var tenantWritable = map[string]bool{
	"anon_key": true, "database_url": true, "database_pool_url": true, "max_connections": true,
	"jwt_secret": true, "jwks": true, "service_key": true, "file_size_limit": true,
	"feature_image_transformation": true, "feature_s3_protocol": true,
	"image_transformation_max_resolution": true, "migrations_version": true,
	"migrations_status": true, "tracing_mode": true,
}

// TenantColumns are column values of a tenant write; a nil value writes NULL.
type TenantColumns map[string]any

// ordered returns the columns sorted, checked against tenantWritable.
func (c TenantColumns) ordered() ([]string, []any, error) {
	names := make([]string, 0, len(c))
	for n := range c {
		if !tenantWritable[n] {
			return nil, nil, fmt.Errorf("db: tenants has no writable column %q", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	vals := make([]any, len(names))
	for i, n := range names {
		vals[i] = c[n]
	}
	return names, vals, nil
}

// InsertTenant adds tenant id; ErrUniqueViolated when it exists.
func InsertTenant(ctx context.Context, pool *pgxpool.Pool, id string, cols TenantColumns) error {
	names, vals, err := cols.ordered()
	if err != nil {
		return err
	}
	q, args := insertTenantSQL(id, names, vals)
	_, err = pool.Exec(ctx, q, args...)
	return Classify(err)
}

// UpsertTenant adds tenant id or, when it exists, overwrites the given columns (the
// others keep their values), as the reference's insert … on conflict merge.
func UpsertTenant(ctx context.Context, pool *pgxpool.Pool, id string, cols TenantColumns) error {
	names, vals, err := cols.ordered()
	if err != nil {
		return err
	}
	q, args := insertTenantSQL(id, names, vals)
	if len(names) == 0 {
		q += ` on conflict (id) do nothing`
	} else {
		set := make([]string, len(names))
		for i, n := range names {
			id := pgx.Identifier{n}.Sanitize()
			set[i] = id + " = excluded." + id
		}
		q += ` on conflict (id) do update set ` + strings.Join(set, ", ")
	}
	_, err = pool.Exec(ctx, q, args...)
	return Classify(err)
}

func insertTenantSQL(id string, names []string, vals []any) (string, []any) {
	cols := []string{"id"}
	marks := []string{"$1"}
	args := append([]any{id}, vals...)
	for i, n := range names {
		cols = append(cols, pgx.Identifier{n}.Sanitize())
		marks = append(marks, fmt.Sprintf("$%d", i+2))
	}
	return `insert into tenants (` + strings.Join(cols, ", ") + `) values (` + strings.Join(marks, ", ") + `)`, args
}

// UpdateTenant sets the given columns of tenant id and reports whether the row exists.
func UpdateTenant(ctx context.Context, pool *pgxpool.Pool, id string, cols TenantColumns) (bool, error) {
	names, vals, err := cols.ordered()
	if err != nil {
		return false, err
	}
	if len(names) == 0 {
		var exists bool
		err := pool.QueryRow(ctx, `select exists (select 1 from tenants where id = $1)`, id).Scan(&exists)
		return exists, Classify(err)
	}
	set := make([]string, len(names))
	for i, n := range names {
		set[i] = fmt.Sprintf("%s = $%d", pgx.Identifier{n}.Sanitize(), i+2)
	}
	tag, err := pool.Exec(ctx, `update tenants set `+strings.Join(set, ", ")+` where id = $1`, append([]any{id}, vals...)...)
	return tag.RowsAffected() > 0, Classify(err)
}

// DeleteTenant removes tenant id and reports whether it existed.
func DeleteTenant(ctx context.Context, pool *pgxpool.Pool, id string) (bool, error) {
	tag, err := pool.Exec(ctx, `delete from tenants where id = $1`, id)
	return tag.RowsAffected() > 0, Classify(err)
}

// ListenTenants subscribes conn to TenantsChannel; conn.WaitForNotification then
// returns each change.
func ListenTenants(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `listen `+TenantsChannel)
	return Classify(err)
}

// TenantCursor is a tenant's id and its position in the fleet job's walk.
type TenantCursor struct {
	ID       string
	CursorID int
}

// TenantsToMigrate returns up to limit tenants after cursor (by cursor_id) whose
// migrations are not at version, skipping statuses in skip (the reference's query: a
// tenant whose status is null is always taken).
func TenantsToMigrate(ctx context.Context, pool *pgxpool.Pool, version string, cursor int, skip []string, limit int) ([]TenantCursor, error) {
	rows, err := pool.Query(ctx, `select id, cursor_id from tenants
		where cursor_id > $1
		  and ((migrations_version is distinct from $2 and coalesce(migrations_status, '') != all($3::text[]))
		       or migrations_status is null)
		order by cursor_id limit $4`, cursor, version, skip, limit)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TenantCursor])
	return out, Classify(err)
}

// FleetJob is one row of stowage_fleet_migrations.
type FleetJob struct {
	ID            int64
	Kind          string
	Status        string // running, completed, failed
	TargetVersion string
	CursorID      int
	Migrated      int
	Failed        int
	Error         string
}

const fleetSelect = `select id, kind, status, target_version, cursor_id, migrated, failed, coalesce(error, '')
	from stowage_fleet_migrations`

// StartFleetJob records a running job of kind toward version and returns it; when one is
// already running, that one is returned with started false.
func StartFleetJob(ctx context.Context, pool *pgxpool.Pool, kind, version string) (job FleetJob, started bool, err error) {
	row := pool.QueryRow(ctx, `insert into stowage_fleet_migrations (kind, target_version) values ($1, $2)
		on conflict do nothing
		returning id, kind, status, target_version, cursor_id, migrated, failed, coalesce(error, '')`, kind, version)
	job, err = scanFleet(row)
	if err == nil {
		return job, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return FleetJob{}, false, Classify(err)
	}
	job, err = RunningFleetJob(ctx, pool)
	return job, false, err
}

func scanFleet(row pgx.Row) (FleetJob, error) {
	var j FleetJob
	err := row.Scan(&j.ID, &j.Kind, &j.Status, &j.TargetVersion, &j.CursorID, &j.Migrated, &j.Failed, &j.Error)
	return j, err
}

// RunningFleetJob returns the running job; ErrNotFound when none runs.
func RunningFleetJob(ctx context.Context, pool *pgxpool.Pool) (FleetJob, error) {
	j, err := scanFleet(pool.QueryRow(ctx, fleetSelect+` where status = 'running'`))
	return j, Classify(err)
}

// LatestFleetJob returns the most recent job of any status; ErrNotFound when none ran.
func LatestFleetJob(ctx context.Context, pool *pgxpool.Pool) (FleetJob, error) {
	j, err := scanFleet(pool.QueryRow(ctx, fleetSelect+` order by id desc limit 1`))
	return j, Classify(err)
}

// AdvanceFleetJob records that job id finished tenant cursor, with its outcome, and
// reports whether the job is still running (false: it was cancelled or finished, and
// nothing was recorded).
func AdvanceFleetJob(ctx context.Context, pool *pgxpool.Pool, id int64, cursor int, ok bool) (running bool, err error) {
	tag, err := pool.Exec(ctx, `update stowage_fleet_migrations
		set cursor_id = greatest(cursor_id, $2),
		    migrated = migrated + case when $3 then 1 else 0 end,
		    failed = failed + case when $3 then 0 else 1 end,
		    updated_at = now()
		where id = $1 and status = 'running'`, id, cursor, ok)
	if err != nil {
		return false, Classify(err)
	}
	return tag.RowsAffected() == 1, nil
}

// FinishFleetJob ends job id with status (completed, failed, cancelled) and an error text.
func FinishFleetJob(ctx context.Context, pool *pgxpool.Pool, id int64, status, errText string) error {
	_, err := pool.Exec(ctx, `update stowage_fleet_migrations
		set status = $2, error = nullif($3, ''), finished_at = now(), updated_at = now()
		where id = $1 and status = 'running'`, id, status, errText)
	return Classify(err)
}

// FailedTenants returns up to limit tenants whose migrations_status is one of statuses,
// after cursor, in cursor order.
func FailedTenants(ctx context.Context, pool *pgxpool.Pool, statuses []string, cursor, limit int) ([]TenantRow, error) {
	rows, err := pool.Query(ctx, tenantSelect+` where migrations_status = any($1::text[]) and cursor_id > $2
		order by cursor_id limit $3`, statuses, cursor, limit)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TenantRow, error) { return scanTenant(r) })
	return out, Classify(err)
}

// fleetLockKey is the advisory lock the gateway running the fleet job holds ("stowflt").
const fleetLockKey int64 = 0x73746f77666c74

// TryFleetLock takes the fleet job's advisory lock on conn's session, reporting whether
// it got it; closing the connection releases it. The holder is the one gateway running
// the job.
func TryFleetLock(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `select pg_try_advisory_lock($1)`, fleetLockKey).Scan(&ok)
	return ok, Classify(err)
}

// CountTenantsToMigrate counts the tenants TenantsToMigrate would return from the start.
func CountTenantsToMigrate(ctx context.Context, pool *pgxpool.Pool, version string, skip []string) (int, error) {
	var n int
	err := pool.QueryRow(ctx, `select count(*) from tenants
		where (migrations_version is distinct from $1 and coalesce(migrations_status, '') != all($2::text[]))
		   or migrations_status is null`, version, skip).Scan(&n)
	return n, Classify(err)
}
