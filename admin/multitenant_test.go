package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/admin"
	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/gateway/passphrase"
	"github.com/stowage/stowage/gateway/tenants"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	apiKey = "admin-test-key"
	encKey = "admin-test-encryption-key"
)

var roles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

// mt is a multi-tenant admin API over a real control database, with per-tenant engines
// built from the registry's tenants on first use (as the data plane does).
type mt struct {
	t       *testing.T
	app     *fiber.App
	reg     *tenants.Registry
	control *pgxpool.Pool

	mu       sync.Mutex
	engines  map[string]*gateway.Engine
	migrated map[string]int // MigrateTenant calls by tenant id
	held     int            // engines handed out and not released yet
}

func newMT(t *testing.T, sensitive bool) *mt {
	t.Helper()
	ctx := context.Background()
	control, err := pgxpool.New(ctx, pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(control.Close)
	if err := db.MigrateMultitenant(ctx, control); err != nil {
		t.Fatal(err)
	}
	reg, err := tenants.NewRegistry(control, tenants.RegistryOptions{EncryptionKey: encKey})
	if err != nil {
		t.Fatal(err)
	}
	m := &mt{t: t, reg: reg, control: control, engines: map[string]*gateway.Engine{}, migrated: map[string]int{}}
	t.Cleanup(func() {
		// Every engine the admin API took is given back (a streamed answer's after its
		// writer ends, which may be just after the client read the end of the body).
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) { // hang guard
			m.mu.Lock()
			held := m.held
			m.mu.Unlock()
			if held == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d engines handed to the admin API were never released", held)
				return
			}
		}
	})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := admin.New(nil, admin.Options{APIKeys: []string{apiKey}, Logger: log, Tenants: reg, ReturnSensitive: sensitive,
		Engine: m.engine, MigrateTenant: m.migrate})
	m.app = fiber.New(fiber.Config{ErrorHandler: admin.ErrorHandler(log), StreamRequestBody: true, DisableStartupMessage: true})
	h.Register(m.app)
	return m
}

func (m *mt) migrate(ctx context.Context, t *tenants.Tenant) error {
	m.mu.Lock()
	m.migrated[t.ID]++
	m.mu.Unlock()
	return tenants.MigrateDatabase(ctx, t.DatabaseURL, db.MigrateOptions{InstallRoles: true})
}

func (m *mt) migrations(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.migrated[id]
}

// engine builds the tenant's engine from the registry, as the data plane would.
// Each engine handed out counts in m.held until its release is called (once).
func (m *mt) engine(ctx context.Context, id string) (*gateway.Engine, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.engines[id]
	if !ok {
		t, err := m.reg.Get(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		d, err := db.Open(ctx, t.DatabaseURL, db.Options{MaxConns: 4})
		if err != nil {
			return nil, nil, err
		}
		m.t.Cleanup(d.Close)
		store, err := filebackend.New(m.t.TempDir(), filebackend.Options{NoFsync: true})
		if err != nil {
			return nil, nil, err
		}
		e = gateway.New(d, store, gateway.Options{TenantID: id, Roles: roles, MaxObjectSize: 1 << 20,
			WriteTimeout: time.Minute, EncryptionKey: encKey, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		m.engines[id] = e
	}
	m.held++
	released := false
	return e, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if released {
			m.t.Error("an engine released twice")
			return
		}
		released = true
		m.held--
	}, nil
}

// do sends a request and returns status and body.
func (m *mt) do(method, path string, body any) (int, string) {
	m.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("apikey", apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.app.Test(req, -1)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (m *mt) expect(method, path string, body any, status int, wantBody string) string {
	m.t.Helper()
	got, b := m.do(method, path, body)
	if got != status || (wantBody != "*" && b != wantBody) {
		m.t.Fatalf("%s %s = %d %s; want %d %s", method, path, got, b, status, wantBody)
	}
	return b
}

func tenantBody(dbURL, secret string) map[string]any {
	return map[string]any{"anonKey": "anon-" + secret, "databaseUrl": dbURL, "jwtSecret": secret, "serviceKey": "service-" + secret,
		"fileSizeLimit": 1000, "features": map[string]any{"imageTransformation": map[string]any{"enabled": true}}}
}

// TestTenantCRUD runs the reference's tenant routes end to end against a real control
// database: validation, create (which migrates the new tenant's empty database), the
// reference's answer shapes, patch, upsert, delete.
func TestTenantCRUD(t *testing.T) {
	m := newMT(t, true)
	emptyDB := pgtest.EmptyURL(t)

	m.expect("POST", "/tenants/alpha", map[string]any{"anonKey": "a"}, 400,
		`{"statusCode":"400","error":"Bad Request","message":"body must have required property 'databaseUrl'"}`)
	bad := tenantBody(emptyDB, "s1")
	bad["fileSizeLimit"] = "big"
	m.expect("POST", "/tenants/alpha", bad, 400,
		`{"statusCode":"400","error":"Bad Request","message":"body/fileSizeLimit must be number"}`)
	m.expect("POST", "/tenants/a.b", tenantBody(emptyDB, "s1"), 400,
		`{"statusCode":"400","error":"Bad Request","message":"params/tenantId must match pattern \"^[A-Za-z0-9_-]{1,63}$\""}`)
	m.expect("PUT", "/tenants/..", tenantBody(emptyDB, "s1"), 400, "*")
	m.expect("POST", "/tenants/alpha", tenantBody(emptyDB, "s1"), 201, "")
	if m.migrations("alpha") != 1 {
		t.Fatalf("create ran %d migrations, want 1", m.migrations("alpha"))
	}
	m.expect("POST", "/tenants/alpha", tenantBody(emptyDB, "s1"), 409, "*")

	latest := tenants.LatestMigration()
	m.expect("GET", "/tenants/alpha", nil, 200, `{"anonKey":"anon-s1","databaseUrl":"`+emptyDB+`","fileSizeLimit":1000,"jwtSecret":"s1","jwks":null,"serviceKey":"service-s1",`+
		`"features":{"imageTransformation":{"enabled":true,"maxResolution":null},"s3Protocol":{"enabled":true}},"migrationVersion":"`+latest+`","migrationStatus":"COMPLETED","tracingMode":null}`)
	m.expect("GET", "/tenants/alpha/migrations", nil, 200, `{"isLatest":true,"migrationsStatus":"COMPLETED","migrationsVersion":"`+latest+`"}`)
	// The created tenant's database really is migrated: its engine serves it.
	e, release, err := m.engine(context.Background(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if st, err := e.Migrations(context.Background()); err != nil || !st.Latest {
		t.Fatalf("tenant database migrations = %+v, %v", st, err)
	}

	m.expect("PATCH", "/tenants/alpha", map[string]any{"jwtSecret": "s2", "databasePoolUrl": "postgres://pooler/x", "maxConnections": 7,
		"features": map[string]any{"s3Protocol": map[string]any{"enabled": false}}}, 204, "")
	got, err := m.reg.Get(context.Background(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if got.JWTSecret != "s2" || got.DatabasePoolURL != "postgres://pooler/x" || got.MaxConnections != 7 || got.S3Protocol || !got.ImageTransformation || got.AnonKey != "anon-s1" {
		t.Fatalf("after PATCH: %+v", got)
	}
	m.expect("PATCH", "/tenants/alpha", map[string]any{"databasePoolUrl": nil}, 204, "")
	m.expect("PATCH", "/tenants/nobody", map[string]any{"jwtSecret": "x"}, 204, "") // as the reference

	other := pgtest.URL(t)
	m.expect("PUT", "/tenants/beta", tenantBody(other, "b1"), 204, "")
	list := m.expect("GET", "/tenants", nil, 200, "*")
	var views []map[string]any
	if err := json.Unmarshal([]byte(list), &views); err != nil || len(views) != 2 || views[0]["id"] != "alpha" || views[1]["id"] != "beta" {
		t.Fatalf("GET /tenants = %s", list)
	}
	if views[0]["databasePoolUrl"] != nil || views[0]["maxConnections"] != float64(7) {
		t.Fatalf("alpha in list = %v", views[0])
	}

	m.expect("DELETE", "/tenants/beta", nil, 204, "")
	m.expect("DELETE", "/tenants/beta", nil, 204, "")
	m.expect("GET", "/tenants/beta", nil, 404, "")
	m.expect("GET", "/tenants/beta/migrations", nil, 404, `{"error":"Tenant not found"}`)

	// The control database holds ciphertexts, not the secrets.
	var sealed string
	if err := m.control.QueryRow(context.Background(), `select jwt_secret from tenants where id = 'alpha'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	// The secret is checked by opening the ciphertext: a substring test on "s2" failed when
	// the random base64 happened to contain those two characters.
	if opened, err := passphrase.Decrypt(encKey, sealed); sealed == "s2" || !strings.HasPrefix(sealed, "U2FsdGVkX1") ||
		err != nil || opened != "s2" {
		t.Fatalf("jwt_secret stored as %q (opens to %q, %v)", sealed, opened, err)
	}
}

// TestSensitiveDataHidden: with ADMIN_RETURN_TENANT_SENSITIVE_DATA=false the secrets are
// left out of both answers.
func TestSensitiveDataHidden(t *testing.T) {
	m := newMT(t, false)
	m.expect("PUT", "/tenants/alpha", tenantBody(pgtest.URL(t), "s1"), 204, "")
	latest := tenants.LatestMigration()
	m.expect("GET", "/tenants/alpha", nil, 200, `{"fileSizeLimit":1000,"features":{"imageTransformation":{"enabled":true,"maxResolution":null},"s3Protocol":{"enabled":true}},"migrationVersion":"`+latest+`","migrationStatus":"COMPLETED","tracingMode":null}`)
	body := m.expect("GET", "/tenants", nil, 200, "*")
	for _, secret := range []string{"anonKey", "databaseUrl", "jwtSecret", "serviceKey", "jwks", "s1"} {
		if strings.Contains(body, secret) {
			t.Fatalf("GET /tenants shows %s: %s", secret, body)
		}
	}
}

// TestPerTenantRoutes: the per-tenant admin routes run on the route's tenant's engine;
// credentials made for one tenant are not the other's; an unknown tenant is 404.
func TestPerTenantRoutes(t *testing.T) {
	m := newMT(t, true)
	m.expect("PUT", "/tenants/alpha", tenantBody(pgtest.URL(t), "s1"), 204, "")
	m.expect("PUT", "/tenants/beta", tenantBody(pgtest.URL(t), "s2"), 204, "")

	created := m.expect("POST", "/s3/alpha/credentials", map[string]any{"description": "alpha key", "claims": map[string]any{"role": "service_role"}}, 201, "*")
	var cred struct {
		AccessKey string `json:"access_key"`
	}
	if err := json.Unmarshal([]byte(created), &cred); err != nil || cred.AccessKey == "" {
		t.Fatalf("create credential = %s", created)
	}
	if list := m.expect("GET", "/s3/alpha/credentials", nil, 200, "*"); !strings.Contains(list, cred.AccessKey) {
		t.Fatalf("alpha's credentials = %s", list)
	}
	m.expect("GET", "/s3/beta/credentials", nil, 200, "[]")
	m.expect("GET", "/s3/gamma/credentials", nil, 404, `{"error":"Tenant not found"}`)
	m.expect("GET", "/tenants/alpha/health", nil, 200, `{"healthy":true}`)
	m.expect("GET", "/tenants/gamma/health", nil, 404, `{"error":"Tenant not found"}`)
	m.expect("POST", "/tenants/beta/jwks", map[string]any{"kind": "extra", "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}}, 201, "*")
	m.expect("POST", "/tenants/jwks/generate-all-missing", nil, 200, `{"started":true}`)
	m.expect("GET", "/tenants/jwks/generate-all-missing", nil, 200, `{"running":false,"sent":2}`)
	m.expect("POST", "/tenants/alpha/migrations", nil, 200, `{"migrated":true}`)
}

// TestFleetMigrations: the fleet job migrates every tenant not at the latest version,
// records a failure without stopping, and a job left running by a stopped gateway resumes
// from its recorded cursor (tenants before it are not migrated again).
func TestFleetMigrations(t *testing.T) {
	ctx := context.Background()
	m := newMT(t, true)
	for _, tc := range []struct{ id, url string }{
		{"t1", pgtest.URL(t)}, {"t2", pgtest.EmptyURL(t)}, {"t3", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"},
	} {
		// Written as the reference writes rows (no migration run): status null.
		if err := m.reg.Create(ctx, tc.id, tenants.Config{AnonKey: ptr("a"), DatabaseURL: ptr(tc.url), JWTSecret: ptr("s"), ServiceKey: ptr("k")}); err != nil {
			t.Fatal(err)
		}
	}
	m.expect("GET", "/migrations/progress", nil, 200, `{"remaining":3}`)
	m.expect("POST", "/migrations/migrate/fleet", nil, 200, `{"message":"Migrations scheduled"}`)
	waitFleet(t, m)
	for id, want := range map[string]string{"t1": "COMPLETED", "t2": "COMPLETED", "t3": "FAILED"} {
		got, err := m.reg.Get(ctx, id)
		if err != nil || got.MigrationsStatus != want {
			t.Fatalf("%s: %+v, %v; want status %s", id, got, err, want)
		}
	}
	m.expect("GET", "/migrations/active", nil, 200, `[]`)
	failed := m.expect("GET", "/migrations/failed", nil, 200, "*")
	if !strings.Contains(failed, `"id":"t3"`) || strings.Contains(failed, `"t1"`) {
		t.Fatalf("failed = %s", failed)
	}
	progress := m.expect("GET", "/migrations/progress", nil, 200, "*")
	if !strings.Contains(progress, `"remaining":1`) || !strings.Contains(progress, `"migrated":2,"failed":1`) {
		t.Fatalf("progress = %s", progress)
	}

	// Resume: two new tenants; a job recorded as running with its cursor past the first
	// (as a gateway that stopped after migrating it leaves it).
	for _, id := range []string{"t4", "t5"} {
		if err := m.reg.Create(ctx, id, tenants.Config{AnonKey: ptr("a"), DatabaseURL: ptr(pgtest.URL(t)), JWTSecret: ptr("s"), ServiceKey: ptr("k")}); err != nil {
			t.Fatal(err)
		}
	}
	var t4Cursor int
	if err := m.control.QueryRow(ctx, `select cursor_id from tenants where id = 't4'`).Scan(&t4Cursor); err != nil {
		t.Fatal(err)
	}
	if _, err := m.control.Exec(ctx, `insert into stowage_fleet_migrations (target_version, cursor_id) values ($1, $2)`,
		tenants.LatestMigration(), t4Cursor); err != nil {
		t.Fatal(err)
	}
	before := m.migrations("t3")
	// Two gateways resume it at once: the fleet lock lets one run it, each tenant once.
	second, err := tenants.NewRegistry(m.control, tenants.RegistryOptions{EncryptionKey: encKey})
	if err != nil {
		t.Fatal(err)
	}
	second.ResumeFleet(m.migrate)
	m.reg.ResumeFleet(m.migrate)
	waitFleet(t, m)
	for second.FleetRunning() {
		time.Sleep(20 * time.Millisecond)
	}
	if m.migrations("t4") != 0 || m.migrations("t5") != 1 || m.migrations("t3") != before {
		t.Fatalf("resumed job migrated t3 %d→%d, t4 %d, t5 %d times; want t5 only", before, m.migrations("t3"), m.migrations("t4"), m.migrations("t5"))
	}
	m.expect("POST", "/migrations/reset/fleet", map[string]any{"untilMigration": "x"}, 400, `{"message":"Invalid migration"}`)

	// Cancel: a job recorded as running (nobody runs it here) is stopped by DELETE.
	m.expect("DELETE", "/migrations/active", nil, 200, `[]`)
	if _, err := m.control.Exec(ctx, `insert into stowage_fleet_migrations (target_version) values ($1)`, tenants.LatestMigration()); err != nil {
		t.Fatal(err)
	}
	if active := m.expect("GET", "/migrations/active", nil, 200, "*"); !strings.Contains(active, `"state":"running"`) {
		t.Fatalf("active = %s", active)
	}
	if stopped := m.expect("DELETE", "/migrations/active", nil, 200, "*"); !strings.Contains(stopped, `"state":"cancelled"`) {
		t.Fatalf("DELETE active = %s", stopped)
	}
	m.expect("GET", "/migrations/active", nil, 200, `[]`)
}

// waitFleet waits until no fleet job runs (hang guard).
func waitFleet(t *testing.T, m *mt) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, err := m.reg.ActiveFleet(context.Background())
		if errors.Is(err, tenants.ErrNotFound) && !m.reg.FleetRunning() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("fleet job did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSingleTenantUnchanged: without Options.Tenants the admin API keeps serving its one
// engine's tenant only, and refuses tenant management as before.
func TestSingleTenantUnchanged(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, pgtest.URL(t), db.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	store, err := filebackend.New(t.TempDir(), filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := gateway.New(d, store, gateway.Options{TenantID: "solo", Roles: roles, MaxObjectSize: 1 << 20,
		WriteTimeout: time.Minute, EncryptionKey: encKey, Logger: log})
	m := &mt{t: t}
	h := admin.New(e, admin.Options{APIKeys: []string{apiKey}, Logger: log})
	m.app = fiber.New(fiber.Config{ErrorHandler: admin.ErrorHandler(log), StreamRequestBody: true, DisableStartupMessage: true})
	h.Register(m.app)

	m.expect("GET", "/tenants/solo/health", nil, 200, `{"healthy":true}`)
	m.expect("GET", "/tenants/other/health", nil, 404, `{"error":"Tenant not found"}`)
	m.expect("GET", "/s3/other/credentials", nil, 404, `{"error":"Tenant not found"}`)
	m.expect("GET", "/s3/solo/credentials", nil, 200, `[]`)
	m.expect("POST", "/tenants/solo", tenantBody("postgres://x", "s"), 400, "*")
	m.expect("POST", "/migrations/migrate/fleet", nil, 400, `{"message":"Queue is not enabled"}`)
}

// TestTenantBodyInvalid: the tenant write routes answer malformed bodies 400 (never
// 500), writing nothing.
func TestTenantBodyInvalid(t *testing.T) {
	m := newMT(t, false)
	for _, body := range []any{[]int{1}, "text", map[string]any{"features": "x"}, map[string]any{"maxConnections": "x"},
		map[string]any{"jwks": 3}, map[string]any{"databasePoolUrl": 1},
		map[string]any{"features": map[string]any{"s3Protocol": map[string]any{"enabled": 1}}}} {
		for _, method := range []string{"PUT", "PATCH"} {
			if got, b := m.do(method, "/tenants/bad", body); got != 400 {
				t.Fatalf("%s %v = %d %s; want 400", method, body, got, b)
			}
		}
	}
	m.expect("GET", "/tenants", nil, 200, `[]`)
}
