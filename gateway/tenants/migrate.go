package tenants

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db"
)

// LatestMigration is the migrations_version a tenant database this build fully migrated
// is recorded with: the reference's last migration name, then "+stowage-N" for Stowage's
// own newest migration. A tenant a reference server migrated (its version is the bare
// name) therefore counts as not latest, so the fleet job adds Stowage's schema to it.
func LatestMigration() string {
	l := db.LatestMigrations()
	return l.Storage + "+stowage-" + strconv.Itoa(l.Stowage)
}

// MigrateDatabase runs the migrations of the tenant database at url (the tenant's
// DatabaseURL, never its pooler) with opts, on a pool of its own closed before it returns.
func MigrateDatabase(ctx context.Context, url string, opts db.MigrateOptions) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("tenant database: %w", err)
	}
	defer pool.Close()
	return db.Migrate(ctx, pool, opts)
}
