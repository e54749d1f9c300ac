package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The tenants' S3 credentials and JWKs in multi-tenant mode's control database: the
// reference's tenants_s3_credentials and tenants_jwks (migrations/multitenant/0003), the
// same SQL as a tenant database's stowage.* tables (credentials.go).

const (
	// S3CredentialsChannel is notified after a tenants_s3_credentials row is inserted,
	// updated or deleted; the payload is "<tenant_id>:<access_key>" as a JSON string.
	S3CredentialsChannel = "tenants_s3_credentials_update"
	// JWKSChannel is notified after a tenants_jwks row changed; the payload is the tenant
	// id as a JSON string.
	JWKSChannel = "tenants_jwks_update"

	controlCredentialsTable = "tenants_s3_credentials"
	controlJWKsTable        = "tenants_jwks"
)

// ErrLimit is returned by ControlInsertS3Credential when the tenant already holds max
// credentials.
var ErrLimit = errors.New("limit reached")

// ListenControl subscribes conn to the channels of the tenants' credentials and keys
// (S3CredentialsChannel, JWKSChannel), beside ListenTenants.
func ListenControl(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `listen `+S3CredentialsChannel+`; listen `+JWKSChannel)
	return Classify(err)
}

// ControlInsertS3Credential stores c for tenant unless the tenant already holds max
// credentials (ErrLimit); concurrent creations of one tenant are serialised by a
// transaction-scoped advisory lock.
func ControlInsertS3Credential(ctx context.Context, pool *pgxpool.Pool, tenant string, c S3Credential, max int) (S3Credential, error) {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		n, err := countS3Credentials(ctx, tx, controlCredentialsTable, tenant, true)
		if err != nil {
			return err
		}
		if n >= max {
			return ErrLimit
		}
		c, err = insertS3Credential(ctx, tx, controlCredentialsTable, tenant, c)
		return err
	})
	if errors.Is(err, ErrLimit) {
		return c, err
	}
	return c, Classify(err)
}

// ControlS3Credentials returns tenant's credentials, oldest first, without secrets.
func ControlS3Credentials(ctx context.Context, pool *pgxpool.Pool, tenant string) ([]S3Credential, error) {
	return listS3Credentials(ctx, pool, controlCredentialsTable, tenant)
}

// ControlS3CredentialByAccessKey returns tenant's credential with accessKey, ErrNotFound if
// none.
func ControlS3CredentialByAccessKey(ctx context.Context, pool *pgxpool.Pool, tenant, accessKey string) (S3Credential, error) {
	return s3CredentialByAccessKey(ctx, pool, controlCredentialsTable, tenant, accessKey)
}

// ControlDeleteS3Credential deletes tenant's credential id and returns its access key;
// ErrNotFound when there is none.
func ControlDeleteS3Credential(ctx context.Context, pool *pgxpool.Pool, tenant, id string) (string, error) {
	return deleteS3Credential(ctx, pool, controlCredentialsTable, tenant, id)
}

// ControlInsertJWK stores an active key of kind for tenant and returns its id.
func ControlInsertJWK(ctx context.Context, pool *pgxpool.Pool, tenant, kind, content string) (string, error) {
	return insertJWK(ctx, pool, controlJWKsTable, tenant, kind, content)
}

// ControlSetJWKActive flips key id of tenant to active and reports whether it changed.
func ControlSetJWKActive(ctx context.Context, pool *pgxpool.Pool, tenant, id string, active bool) (bool, error) {
	return setJWKActive(ctx, pool, controlJWKsTable, tenant, id, active)
}

// ControlActiveJWKs returns tenant's active keys, oldest first.
func ControlActiveJWKs(ctx context.Context, pool *pgxpool.Pool, tenant string) ([]JWK, error) {
	return activeJWKs(ctx, pool, controlJWKsTable, tenant)
}
