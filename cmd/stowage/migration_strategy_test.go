package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/tenants"
)

// TestMigrationStrategyConfig: DB_MIGRATIONS_STRATEGY takes the reference's three values in
// multi-tenant mode and nothing else; single-tenant mode does not read it (the reference
// neither), so a value of another server's (on_start) does not stop it.
func TestMigrationStrategyConfig(t *testing.T) {
	base := map[string]string{"MULTI_TENANT": "true", "DATABASE_MULTITENANT_URL": "postgres://control",
		"ENCRYPTION_KEY": "k", "REQUEST_X_FORWARDED_HOST_REGEXP": mtHostRegexp}
	load := func(extra map[string]string) (Config, error) {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return LoadConfig(func(k string) string { return env[k] })
	}
	cfg, err := load(nil)
	if err != nil || cfg.DBMigrationsStrategy != strategyOnRequest {
		t.Fatalf("default: %q, %v; want on_request", cfg.DBMigrationsStrategy, err)
	}
	for _, v := range migrationStrategies {
		if cfg, err := load(map[string]string{"DB_MIGRATIONS_STRATEGY": v}); err != nil || cfg.DBMigrationsStrategy != v {
			t.Errorf("%s: %q, %v", v, cfg.DBMigrationsStrategy, err)
		}
	}
	if _, err := load(map[string]string{"DB_MIGRATIONS_STRATEGY": "on_start"}); err == nil ||
		!strings.Contains(err.Error(), "DB_MIGRATIONS_STRATEGY") {
		t.Errorf("on_start in multi-tenant mode: %v, want an error naming DB_MIGRATIONS_STRATEGY", err)
	}
	if _, err := LoadConfig(func(k string) string {
		return map[string]string{"DB_MIGRATIONS_STRATEGY": "on_start"}[k]
	}); err != nil {
		t.Errorf("single-tenant mode with DB_MIGRATIONS_STRATEGY=on_start: %v", err)
	}
}

// strategyEnv is a control plane with two tenants on fresh, unmigrated databases: alpha,
// recorded as never migrated, and beta, recorded as migrated by this build (COMPLETED at
// tenants.LatestMigration) although its database is still empty, which shows whether
// a gateway trusts the record; and gamma, whose database does not exist.
type strategyEnv struct {
	reg       *tenants.Registry
	tenantDBs map[string]string
	secrets   map[string]string
	url       string
}

func newStrategyEnv(t *testing.T, strategy string) *strategyEnv {
	t.Helper()
	ctx := t.Context()
	const key = "strategy-test-encryption-key"
	cp := newControlPlane(t, key, "alpha", "beta")
	control, reg := cp.url, cp.reg
	e := &strategyEnv{reg: reg, tenantDBs: cp.dbs, secrets: cp.secrets}
	// gamma's database does not exist: its migrations fail on every request.
	u, err := neturl.Parse(pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database_of_gamma"
	gammaURL, gammaSecret := u.String(), "strategy-secret-of-gamma-0123456789abcdef"
	gammaAnon, gammaService := signKey(t, gammaSecret, "anon"), signKey(t, gammaSecret, "service_role")
	if err := reg.Create(ctx, "gamma", tenants.Config{DatabaseURL: &gammaURL, JWTSecret: &gammaSecret,
		AnonKey: &gammaAnon, ServiceKey: &gammaService}); err != nil {
		t.Fatal(err)
	}
	e.secrets["gamma"] = gammaSecret
	if err := reg.SetMigrations(ctx, "beta", tenants.LatestMigration(), tenants.MigrationsCompleted); err != nil {
		t.Fatal(err)
	}

	port := harness.FreePort(t)
	env := map[string]string{"MULTI_TENANT": "true", "DATABASE_MULTITENANT_URL": control, "ENCRYPTION_KEY": key,
		"REQUEST_X_FORWARDED_HOST_REGEXP": mtHostRegexp, "DB_MIGRATIONS_STRATEGY": strategy, "DB_INSTALL_ROLES": "true",
		"SERVER_HOST": "127.0.0.1", "SERVER_PORT": strconv.Itoa(port), "STORAGE_FILE_BACKEND_PATH": t.TempDir(),
		"STOWAGE_DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveControlPlane(sctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serveControlPlane: %v", err)
		}
	})
	e.url = "http://127.0.0.1:" + strconv.Itoa(port)
	// Ready once /status answers: startMigrations has run by then.
	deadline := time.Now().Add(hangGuard)
	for {
		resp, err := http.Get(e.url + "/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serveControlPlane ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return e
}

// migrated reports whether tenant id's database has the storage schema's migrations.
func (e *strategyEnv) migrated(t *testing.T, id string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), e.tenantDBs[id])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(t.Context(), `select to_regclass('storage.migrations') is not null`).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// record is tenant id's migrations record in the control database.
func (e *strategyEnv) record(t *testing.T, id string) (version, status string) {
	t.Helper()
	all, err := e.reg.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range all {
		if tn.ID == id {
			return tn.MigrationsVersion, tn.MigrationsStatus
		}
	}
	t.Fatalf("tenant %s not listed", id)
	return "", ""
}

// listBuckets is GET /bucket of tenant id with its service key.
func (e *strategyEnv) listBuckets(t *testing.T, id string) (int, string) {
	t.Helper()
	code, body, _ := mtDo(t, "GET", e.url+"/bucket", id, signKey(t, e.secrets[id], "service_role"), nil, nil)
	return code, body
}

// TestMigrationStrategyRequest: with on_request and progressive nothing is migrated at start
// (no fleet job); the first request of a tenant the control database records as behind
// migrates its database and records it COMPLETED at this build's version; a tenant recorded
// as up to date is not migrated again (its empty database stays empty); a failed migration
// answers 544 and is not recorded.
func TestMigrationStrategyRequest(t *testing.T) {
	for _, strategy := range []string{strategyOnRequest, strategyProgressive} {
		t.Run(strategy, func(t *testing.T) {
			e := newStrategyEnv(t, strategy)
			if _, err := e.reg.LastFleet(t.Context()); !errors.Is(err, tenants.ErrNotFound) {
				t.Errorf("a fleet job at start: %v", err)
			}
			if e.migrated(t, "alpha") {
				t.Fatal("alpha migrated before any request")
			}
			if code, body := e.listBuckets(t, "alpha"); code != 200 {
				t.Fatalf("alpha's first request: %d %s", code, body)
			}
			if !e.migrated(t, "alpha") {
				t.Error("alpha not migrated by its first request")
			}
			if v, s := e.record(t, "alpha"); v != tenants.LatestMigration() || s != tenants.MigrationsCompleted {
				t.Errorf("alpha recorded %q %q, want %q COMPLETED", v, s, tenants.LatestMigration())
			}
			// beta is recorded as up to date: its stack is built without migrating, so its
			// (empty) database answers no query.
			if code, _ := e.listBuckets(t, "beta"); code == 200 {
				t.Error("beta's request succeeded on an empty database")
			}
			if e.migrated(t, "beta") {
				t.Error("beta, recorded as up to date, was migrated by a request")
			}
			// A failed migration fails the request and is not recorded (a database that is
			// down would otherwise write the row, and notify every gateway, per request).
			if code, body := e.listBuckets(t, "gamma"); code != 544 {
				t.Errorf("gamma, whose database does not exist: %d %s, want 544", code, body)
			}
			if v, s := e.record(t, "gamma"); v != "" || s != "" {
				t.Errorf("gamma's failed request-path migration recorded %q %q", v, s)
			}
		})
	}
}

// TestMigrationStrategyFullFleet: with full_fleet the gateway starts a fleet job at start
// that migrates every tenant behind without any request (alpha; gamma fails and is recorded
// FAILED) and skips the ones recorded as up to date (beta).
func TestMigrationStrategyFullFleet(t *testing.T) {
	e := newStrategyEnv(t, strategyFullFleet)
	deadline := time.Now().Add(hangGuard)
	for {
		j, err := e.reg.LastFleet(t.Context())
		if err == nil && j.Status != "running" {
			if j.Status != "completed" || j.Migrated != 1 || j.Failed != 1 {
				t.Fatalf("fleet job: %+v, want completed with 1 tenant migrated (alpha), 1 failed (gamma)", j)
			}
			break
		}
		if err != nil && !errors.Is(err, tenants.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet job not finished: %+v %v", j, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !e.migrated(t, "alpha") {
		t.Error("alpha not migrated by the fleet job")
	}
	if v, s := e.record(t, "alpha"); v != tenants.LatestMigration() || s != tenants.MigrationsCompleted {
		t.Errorf("alpha recorded %q %q, want %q COMPLETED", v, s, tenants.LatestMigration())
	}
	if e.migrated(t, "beta") {
		t.Error("beta, recorded as up to date, was migrated by the fleet job")
	}
	if _, s := e.record(t, "gamma"); s != tenants.MigrationsFailed {
		t.Errorf("gamma after the fleet job: status %q, want FAILED (as the fleet job records failures)", s)
	}
	if code, body := e.listBuckets(t, "alpha"); code != 200 {
		t.Errorf("alpha after the fleet job: %d %s", code, body)
	}
}

// controlPlane is a migrated control database and a Registry on it, with a tenant per id,
// each on a fresh, unmigrated database of its own with its own JWT secret and keys.
type controlPlane struct {
	url          string
	reg          *tenants.Registry
	dbs, secrets map[string]string // by tenant id
}

func newControlPlane(t *testing.T, encryptionKey string, ids ...string) controlPlane {
	t.Helper()
	ctx := t.Context()
	cp := controlPlane{url: pgtest.EmptyURL(t), dbs: map[string]string{}, secrets: map[string]string{}}
	pool, err := pgxpool.New(ctx, cp.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := db.MigrateMultitenant(ctx, pool); err != nil {
		t.Fatal(err)
	}
	cp.reg, err = tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: encryptionKey,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.reg.Close)
	for _, id := range ids {
		url, secret := pgtest.EmptyURL(t), "secret-of-"+id+"-0123456789abcdef-0123456789"
		anon, service := signKey(t, secret, "anon"), signKey(t, secret, "service_role")
		if err := cp.reg.Create(ctx, id, tenants.Config{DatabaseURL: &url, JWTSecret: &secret, AnonKey: &anon, ServiceKey: &service}); err != nil {
			t.Fatal(err)
		}
		cp.dbs[id], cp.secrets[id] = url, secret
	}
	return cp
}
