package db

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stowage/stowage/db/migrations"
)

// S3Credential is a tenants_s3_credentials row (the reference's control-database table;
// stowage.tenants_s3_credentials in a tenant's database, control_credentials.go in the
// control database). SecretKey is as stored: encrypted with ENCRYPTION_KEY.
type S3Credential struct {
	ID          string
	Description string
	AccessKey   string
	SecretKey   string
	Claims      json.RawMessage
	CreatedAt   time.Time
}

// Tables of admin-created credentials and keys in a tenant's own database (single-tenant
// mode, and multi-tenant servers without a control database).
const (
	tenantCredentialsTable = "stowage.tenants_s3_credentials"
	tenantJWKsTable        = "stowage.tenants_jwks"
)

// InsertS3Credential stores c for tenant and returns its id and creation time.
func (t Tx) InsertS3Credential(ctx context.Context, tenant string, c S3Credential) (S3Credential, error) {
	return insertS3Credential(ctx, t.tx, tenantCredentialsTable, tenant, c)
}

// CountS3Credentials counts tenant's credentials. lock serialises concurrent creations of
// one tenant (a transaction-scoped advisory lock), so a count-then-insert keeps a cap.
func (t Tx) CountS3Credentials(ctx context.Context, tenant string, lock bool) (int, error) {
	return countS3Credentials(ctx, t.tx, tenantCredentialsTable, tenant, lock)
}

// ListS3Credentials returns tenant's credentials, oldest first, without secrets or claims
// (the reference's list shape).
func (t Tx) ListS3Credentials(ctx context.Context, tenant string) ([]S3Credential, error) {
	return listS3Credentials(ctx, t.tx, tenantCredentialsTable, tenant)
}

// S3CredentialByAccessKey returns tenant's credential with accessKey, ErrNotFound if none.
func (t Tx) S3CredentialByAccessKey(ctx context.Context, tenant, accessKey string) (S3Credential, error) {
	return s3CredentialByAccessKey(ctx, t.tx, tenantCredentialsTable, tenant, accessKey)
}

// DeleteS3Credential deletes tenant's credential id and returns its access key;
// ErrNotFound when there is none (an id that is not a UUID included).
func (t Tx) DeleteS3Credential(ctx context.Context, tenant, id string) (string, error) {
	return deleteS3Credential(ctx, t.tx, tenantCredentialsTable, tenant, id)
}

// JWK is a tenants_jwks row; Content is the JWK's JSON encrypted with ENCRYPTION_KEY.
type JWK struct {
	ID      string
	Kind    string
	Content string
	Active  bool
}

// InsertJWK stores an active key of kind for tenant and returns its id. A second active
// URL-signing key violates the table's unique index (ErrUniqueViolated).
func (t Tx) InsertJWK(ctx context.Context, tenant, kind, content string) (string, error) {
	return insertJWK(ctx, t.tx, tenantJWKsTable, tenant, kind, content)
}

// SetJWKActive flips key id of tenant to active and reports whether a row changed (false
// when it does not exist or already had that state), as the reference's toggle.
func (t Tx) SetJWKActive(ctx context.Context, tenant, id string, active bool) (bool, error) {
	return setJWKActive(ctx, t.tx, tenantJWKsTable, tenant, id, active)
}

// ActiveJWKs returns tenant's active keys, oldest first.
func (t Tx) ActiveJWKs(ctx context.Context, tenant string) ([]JWK, error) {
	return activeJWKs(ctx, t.tx, tenantJWKsTable, tenant)
}

// querier is what the credential SQL runs on: a transaction of a tenant's database or the
// control database's pool.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func insertS3Credential(ctx context.Context, q querier, table, tenant string, c S3Credential) (S3Credential, error) {
	err := q.QueryRow(ctx, `insert into `+table+` (tenant_id, description, access_key, secret_key, claims)
		values ($1, $2, $3, $4, $5) returning id::text, created_at`,
		tenant, c.Description, c.AccessKey, c.SecretKey, string(c.Claims)).Scan(&c.ID, &c.CreatedAt)
	return c, Classify(err)
}

func countS3Credentials(ctx context.Context, q querier, table, tenant string, lock bool) (int, error) {
	if lock {
		if _, err := q.Exec(ctx, `select pg_advisory_xact_lock($1)`, LockHash("s3-credentials/"+tenant)); err != nil {
			return 0, Classify(err)
		}
	}
	var n int
	err := q.QueryRow(ctx, `select count(*) from `+table+` where tenant_id = $1`, tenant).Scan(&n)
	return n, Classify(err)
}

func listS3Credentials(ctx context.Context, q querier, table, tenant string) ([]S3Credential, error) {
	rows, err := q.Query(ctx, `select id::text, description, access_key, created_at from `+table+`
		where tenant_id = $1 order by created_at, id`, tenant)
	if err != nil {
		return nil, Classify(err)
	}
	defer rows.Close()
	var out []S3Credential
	for rows.Next() {
		var c S3Credential
		if err := rows.Scan(&c.ID, &c.Description, &c.AccessKey, &c.CreatedAt); err != nil {
			return nil, Classify(err)
		}
		out = append(out, c)
	}
	return out, Classify(rows.Err())
}

func s3CredentialByAccessKey(ctx context.Context, q querier, table, tenant, accessKey string) (S3Credential, error) {
	c := S3Credential{AccessKey: accessKey}
	var claims string
	err := q.QueryRow(ctx, `select id::text, description, secret_key, claims::text, created_at
		from `+table+` where tenant_id = $1 and access_key = $2`, tenant, accessKey).
		Scan(&c.ID, &c.Description, &c.SecretKey, &claims, &c.CreatedAt)
	c.Claims = json.RawMessage(claims)
	return c, Classify(err)
}

func deleteS3Credential(ctx context.Context, q querier, table, tenant, id string) (string, error) {
	var key string
	err := q.QueryRow(ctx, `delete from `+table+`
		where tenant_id = $1 and id::text = $2 returning access_key`, tenant, id).Scan(&key)
	return key, Classify(err)
}

func insertJWK(ctx context.Context, q querier, table, tenant, kind, content string) (string, error) {
	var id string
	err := q.QueryRow(ctx, `insert into `+table+` (tenant_id, kind, content, active)
		values ($1, $2, $3, true) returning id::text`, tenant, kind, content).Scan(&id)
	return id, Classify(err)
}

func setJWKActive(ctx context.Context, q querier, table, tenant, id string, active bool) (bool, error) {
	tag, err := q.Exec(ctx, `update `+table+` set active = $1
		where tenant_id = $2 and id::text = $3 and active = $4`, active, tenant, id, !active)
	if err != nil {
		return false, Classify(err)
	}
	return tag.RowsAffected() > 0, nil
}

func activeJWKs(ctx context.Context, q querier, table, tenant string) ([]JWK, error) {
	rows, err := q.Query(ctx, `select id::text, kind, content from `+table+`
		where tenant_id = $1 and active order by created_at, id`, tenant)
	if err != nil {
		return nil, Classify(err)
	}
	defer rows.Close()
	var out []JWK
	for rows.Next() {
		k := JWK{Active: true}
		if err := rows.Scan(&k.ID, &k.Kind, &k.Content); err != nil {
			return nil, Classify(err)
		}
		out = append(out, k)
	}
	return out, Classify(rows.Err())
}

// MigrationStatus is what the database records of its migrations.
type MigrationStatus struct {
	// Storage is the name of the newest reference migration recorded in
	// storage.migrations ("" when none); Stowage the highest stowage.migrations id.
	Storage string
	Stowage int
}

// Migrations reads the migration bookkeeping as the pool's login role (the API roles may
// not read storage.migrations).
func (d *DB) Migrations(ctx context.Context) (MigrationStatus, error) {
	var s MigrationStatus
	err := d.pool.QueryRow(ctx, `select coalesce((select name from storage.migrations order by id desc limit 1), ''),
		coalesce((select max(id) from stowage.migrations), 0)`).Scan(&s.Storage, &s.Stowage)
	return s, Classify(err)
}

// LatestMigrations is the MigrationStatus of a database this build fully migrated.
func LatestMigrations() MigrationStatus {
	ref, own := migrations.Latest()
	return MigrationStatus{Storage: ref, Stowage: own}
}
