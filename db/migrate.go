package db

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db/migrations"
)

// MigrateOptions carries the reference's DB_* settings that shape the schema.
type MigrateOptions struct {
	// InstallRoles creates missing API roles (DB_INSTALL_ROLES). Without it, missing
	// roles make Migrate fail naming them.
	InstallRoles bool
	// AnonRole, AuthenticatedRole and ServiceRole name the API roles (DB_ANON_ROLE,
	// DB_AUTHENTICATED_ROLE, DB_SERVICE_ROLE); empty means anon, authenticated,
	// service_role.
	AnonRole          string
	AuthenticatedRole string
	ServiceRole       string
	// SuperUser owns the storage schema's privileges (DB_SUPER_USER); empty means postgres.
	SuperUser string
}

// Migrate brings the database behind pool to the schema Stowage runs on: the reference's
// storage schema as of its migration 63 (recorded in storage.migrations so a reference
// server sees a fully migrated database), the API roles and auth helpers, and Stowage's
// own stowage schema.
//
// A database the reference already migrated to 63 is adopted as it is: nothing runs
// against its storage schema. A database at a lower level is brought up without losing
// rows. Running Migrate again changes nothing; concurrent calls, from any number of
// processes, are serialised by an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts MigrateOptions) error {
	// Migrations run without statement_timeout and may build indexes on big tables: no
	// client-side statement deadline either.
	return migrations.Apply(withoutStatementDeadline(ctx), pool, migrations.Options(opts))
}

// MigrateMultitenant brings the control database of multi-tenant mode
// (DATABASE_MULTITENANT_URL) to the schema Stowage reads: the reference's `tenants` table
// with its `tenants_update` NOTIFY trigger, and the fleet-migration progress table.
// A control database the reference migrated is adopted; running again changes nothing.
func MigrateMultitenant(ctx context.Context, pool *pgxpool.Pool) error {
	return migrations.ApplyMultitenant(withoutStatementDeadline(ctx), pool)
}
