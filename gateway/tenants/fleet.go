package tenants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db"
)

// MigrateFunc runs the migrations of one tenant's database.
type MigrateFunc func(ctx context.Context, t *Tenant) error

// FleetJob is the state of a fleet migration job, kept in the control database
// (stowage_fleet_migrations) so that a job outlives the gateway running it.
type FleetJob = db.FleetJob

// FailedTenant is a tenant whose last migration failed, with its cursor position.
type FailedTenant = db.TenantCursor

// fleetBatch is how many tenants the fleet job reads at a time.
const fleetBatch = 50

// fleetSkip are statuses the fleet job does not retry (the reference's stale failures).
var fleetSkip = []string{MigrationsFailedStale}

// MigrateTenant runs run on t and records the outcome in the control database: version
// LatestMigration and COMPLETED, or FAILED (the version reached before is kept).
func (r *Registry) MigrateTenant(ctx context.Context, t *Tenant, run MigrateFunc) error {
	err := run(ctx, t)
	version, status := LatestMigration(), MigrationsCompleted
	if err != nil {
		version, status = "", MigrationsFailed
	}
	// Recorded even when ctx ended: the outcome happened.
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if rerr := r.SetMigrations(rec, t.ID, version, status); rerr != nil && !errors.Is(rerr, ErrNotFound) {
		return errors.Join(err, rerr)
	}
	return err
}

// StartFleet starts a fleet job migrating every tenant not at LatestMigration, or joins
// the one already running (started false). The job runs in the background on the gateway
// that holds the fleet lock; a job left running by a gateway that stopped is resumed from
// its recorded cursor by the next StartFleet or ResumeFleet.
func (r *Registry) StartFleet(ctx context.Context, run MigrateFunc) (job FleetJob, started bool, err error) {
	job, started, err = db.StartFleetJob(ctx, r.pool, "migrate", LatestMigration())
	if err != nil {
		return job, false, fmt.Errorf("tenants: start fleet migrations: %w", err)
	}
	r.ResumeFleet(run)
	return job, started, nil
}

// ResumeFleet runs the recorded running job, if any, in the background unless another
// gateway (or this one) already runs it. Servers call it at start.
func (r *Registry) ResumeFleet(run MigrateFunc) {
	// Detached from the request that started it; it stops when cancelled through
	// CancelFleet, or at Close (and is resumed later).
	r.fleetWG.Add(1)
	go func() {
		defer r.fleetWG.Done()
		if err := r.runFleet(r.fleetCtx, run); err != nil && r.fleetCtx.Err() == nil {
			r.log.Error("tenants: fleet migrations stopped", "err", err)
		}
	}()
}

// runFleet runs the running job to its end while holding the fleet lock.
func (r *Registry) runFleet(ctx context.Context, run MigrateFunc) error {
	// The lock lives on a session of its own on the direct URL (ListenURL): a session
	// lock taken through a transaction-mode pooler would not hold.
	conn, err := pgx.ConnectConfig(ctx, r.listen)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }() // closing releases the lock
	ok, err := db.TryFleetLock(ctx, conn)
	if err != nil || !ok {
		return err // another runner has it
	}
	job, err := db.RunningFleetJob(ctx, r.pool)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	r.fleetRunning.Add(1)
	defer r.fleetRunning.Add(-1)
	cursor := job.CursorID
	for {
		cur, err := db.RunningFleetJob(ctx, r.pool)
		if errors.Is(err, db.ErrNotFound) || (err == nil && cur.ID != job.ID) {
			return nil // cancelled
		}
		if err != nil {
			return err
		}
		batch, err := db.TenantsToMigrate(ctx, r.pool, job.TargetVersion, cursor, fleetSkip, fleetBatch)
		if err != nil {
			_ = db.FinishFleetJob(ctx, r.pool, job.ID, "failed", err.Error())
			return err
		}
		if len(batch) == 0 {
			return db.FinishFleetJob(ctx, r.pool, job.ID, "completed", "")
		}
		for _, tc := range batch {
			ok := r.migrateByID(ctx, tc.ID, run) == nil
			running, err := db.AdvanceFleetJob(ctx, r.pool, job.ID, tc.CursorID, ok)
			if err != nil {
				return err
			}
			if !running {
				return nil // cancelled: stop after the tenant just migrated
			}
			cursor = tc.CursorID
		}
	}
}

// migrateByID reads tenant id fresh from the database and migrates it.
func (r *Registry) migrateByID(ctx context.Context, id string, run MigrateFunc) error {
	row, err := db.ControlTenant(ctx, r.pool, id)
	if err != nil {
		return err
	}
	t, err := r.decrypt(row)
	if err != nil {
		_ = r.SetMigrations(ctx, id, "", MigrationsFailed)
		return err
	}
	return r.MigrateTenant(ctx, t, run)
}

// ActiveFleet returns the running fleet job; ErrNotFound when none runs.
func (r *Registry) ActiveFleet(ctx context.Context) (FleetJob, error) {
	j, err := db.RunningFleetJob(ctx, r.pool)
	if errors.Is(err, db.ErrNotFound) {
		return j, ErrNotFound
	}
	return j, err
}

// LastFleet returns the most recent fleet job; ErrNotFound when none ever ran.
func (r *Registry) LastFleet(ctx context.Context) (FleetJob, error) {
	j, err := db.LatestFleetJob(ctx, r.pool)
	if errors.Is(err, db.ErrNotFound) {
		return j, ErrNotFound
	}
	return j, err
}

// CancelFleet marks the running job cancelled (its runner stops after the tenant it is
// on) and reports whether one was running.
func (r *Registry) CancelFleet(ctx context.Context) (bool, error) {
	j, err := db.RunningFleetJob(ctx, r.pool)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, db.FinishFleetJob(ctx, r.pool, j.ID, "cancelled", "")
}

// FleetRemaining counts the tenants a fleet job would still migrate.
func (r *Registry) FleetRemaining(ctx context.Context) (int, error) {
	return db.CountTenantsToMigrate(ctx, r.pool, LatestMigration(), fleetSkip)
}

// FailedMigrations returns up to limit tenants whose status is FAILED after cursor.
func (r *Registry) FailedMigrations(ctx context.Context, cursor, limit int) ([]FailedTenant, error) {
	rows, err := db.FailedTenants(ctx, r.pool, []string{MigrationsFailed}, cursor, limit)
	if err != nil {
		return nil, err
	}
	out := make([]FailedTenant, len(rows))
	for i, row := range rows {
		out[i] = FailedTenant{ID: row.ID, CursorID: row.CursorID}
	}
	return out, nil
}
