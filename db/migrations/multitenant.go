package migrations

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// multitenantLockKey serialises ApplyMultitenant calls on one control database
// ("stowmt" in ASCII); a different key from lockKey, in case the control database is
// also a tenant's.
const multitenantLockKey int64 = 0x73746f776d74

// ApplyMultitenant brings the control database of multi-tenant mode behind pool to the
// current schema: the reference's tenants table and its tenants_update notification
// (multitenant/*.sql), applied in order, each file once, recorded in
// stowage_multitenant_migrations. A control database the reference migrated is adopted:
// every statement is IF NOT EXISTS. Concurrent calls are serialised by an advisory lock.
func ApplyMultitenant(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate control database: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", multitenantLockKey); err != nil {
		return fmt.Errorf("migrate control database: take migration lock: %w", err)
	}
	defer unlockKey(ctx, conn, multitenantLockKey)

	const bootstrap = `create table if not exists stowage_multitenant_migrations (
		id integer primary key,
		name text,
		applied_at timestamptz default now())`
	if _, err := conn.Exec(ctx, bootstrap); err != nil {
		return fmt.Errorf("migrate control database: %w", err)
	}
	rows, _ := conn.Query(ctx, `select id from stowage_multitenant_migrations`)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("migrate control database: %w", err)
	}
	done := map[int]bool{}
	for _, id := range applied {
		done[int(id)] = true
	}
	own, err := readDir("multitenant")
	if err != nil {
		return err
	}
	for _, f := range own {
		if done[f.id] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, f.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `insert into stowage_multitenant_migrations (id, name) values ($1, $2)`, f.id, f.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate control database: %s: %w", f.path, err)
		}
	}
	return nil
}
