package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/stowage/stowage/gateway/tenants"
)

// DB_MIGRATIONS_STRATEGY, the reference's values (docs/multitenant.md). In Stowage every
// migration of a build is one its code needs before it serves a tenant (the reference's
// "sync" migrations, which it too runs in the request whatever the strategy), so a request
// that finds its tenant behind migrates it under every strategy; they differ in what
// happens at start.
const (
	// strategyOnRequest: tenants are migrated only by the requests that find them behind.
	strategyOnRequest = "on_request"
	// strategyProgressive: as on_request. The reference's background queue only takes
	// tenants whose missing migrations are not needed to serve them; Stowage has none.
	strategyProgressive = "progressive"
	// strategyFullFleet: at start the gateway also starts a fleet job (or joins the running
	// one) migrating every tenant not at this build's migrations, as POST /migrations does.
	strategyFullFleet = "full_fleet"
)

var migrationStrategies = []string{strategyOnRequest, strategyProgressive, strategyFullFleet}

func checkMigrationStrategy(v string) error {
	for _, s := range migrationStrategies {
		if v == s {
			return nil
		}
	}
	return fmt.Errorf("DB_MIGRATIONS_STRATEGY=%q: must be one of %s", v, strings.Join(migrationStrategies, ", "))
}

// tenantUpToDate reports whether the control database records t as fully migrated by a
// build with this build's migrations (the reference's areMigrationsUpToDate).
func tenantUpToDate(t *tenants.Tenant) bool {
	return t.MigrationsStatus == tenants.MigrationsCompleted && t.MigrationsVersion == tenants.LatestMigration()
}

// migrateOnRequest is the request path of every strategy, run when a gateway builds a
// tenant's stack: a tenant the control database records as up to date is not touched;
// another is migrated now, over its DatabaseURL (a transaction pooler cannot take
// migrations' session state), and a success is recorded in the control database when there
// is one (reg: this build's version, COMPLETED), as the reference's
// updateTenantMigrationsState. A failure is not recorded (as the reference's request path:
// a database that is down would otherwise write the tenant's row, and notify every
// gateway, on each request); it fails the build, which is not cached: the next request
// tries again.
func migrateOnRequest(ctx context.Context, cfg Config, reg *tenants.Registry, t *tenants.Tenant) error {
	if tenantUpToDate(t) {
		return nil
	}
	if err := migrateTenantFunc(cfg)(ctx, t); err != nil {
		return err
	}
	if reg == nil {
		return nil
	}
	return reg.SetMigrations(ctx, t.ID, tenants.LatestMigration(), tenants.MigrationsCompleted)
}

// startMigrations resumes a fleet job a stopped gateway left running, and does what
// DB_MIGRATIONS_STRATEGY does at start: with full_fleet, when any tenant is behind, it
// starts a fleet job over them (or joins the one running), as POST /migrations does.
func startMigrations(ctx context.Context, cfg Config, reg *tenants.Registry, log *slog.Logger) {
	run := migrateTenantFunc(cfg)
	if cfg.DBMigrationsStrategy != strategyFullFleet {
		reg.ResumeFleet(run)
		return
	}
	n, err := reg.FleetRemaining(ctx)
	if err == nil && n == 0 {
		reg.ResumeFleet(run)
		return
	}
	// StartFleet resumes the job itself: one runner tries the fleet lock after the job exists.
	job, started, err := reg.StartFleet(ctx, run)
	if err != nil {
		log.Error("DB_MIGRATIONS_STRATEGY=full_fleet: fleet migrations not started", "err", err)
		reg.ResumeFleet(run)
		return
	}
	log.Info("DB_MIGRATIONS_STRATEGY=full_fleet: fleet migrations", "job", job.ID, "started", started, "tenants_behind", n)
}
