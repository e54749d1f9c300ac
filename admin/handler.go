// Package admin is the admin API dialect (the reference's admin server, port ADMIN_PORT):
// routes authenticated by the `apikey` header against ADMIN_API_KEYS, answering with the
// reference's status codes and bodies. A single-tenant Stowage serves its one tenant
// (TENANT_ID) here: health, migrations, S3 credentials with claims, JWKS and the
// orphan-object check (orphans.go); tenant management and the queue answer as the
// reference does when they are not enabled. In multi-tenant mode (Options.Tenants) it
// manages the control database's tenants (tenants_mt.go), runs fleet migrations
// (fleet.go), and serves the per-tenant routes on each tenant's engine (Options.Engine).
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/tenants"
)

// Options configure the admin dialect.
type Options struct {
	// APIKeys are ADMIN_API_KEYS: a request's `apikey` header must equal one of them.
	APIKeys []string
	// Migrate runs the tenant database's migrations (POST /tenants/{id}/migrations).
	Migrate func(ctx context.Context) error
	// JWKSChanged is called after a key was added or toggled, so verifiers reload.
	JWKSChanged func()
	// JSONLimit caps request bodies; 0 means 1 MiB.
	JSONLimit int64
	// Tenant describes the served tenant in GET /tenants.
	Tenant TenantInfo
	Logger *slog.Logger

	// Multi-tenant mode (MULTI_TENANT): Tenants is the control plane; the tenant routes
	// manage its tenants, and the per-tenant routes (health, JWKS, S3 credentials, orphan
	// objects) run on the engine Engine returns for the route's tenant. Nil Tenants:
	// single-tenant mode, the one engine given to New.
	Tenants *tenants.Registry
	// Engine returns the engine serving tenantID; an error wrapping tenants.ErrNotFound
	// answers 404 Tenant not found. Provided by the multi-tenant server.
	// release must be called once the caller is done with the engine: until then its
	// database pool stays open, however long the operation (a streamed orphan scan) runs.
	Engine func(ctx context.Context, tenantID string) (e *gateway.Engine, release func(), err error)
	// MigrateTenant runs a tenant database's migrations (create, upsert, patch of its
	// databaseUrl, POST /tenants/{id}/migrations, the fleet job). Nil: tenants are written
	// without migrating, and the migration routes answer migrated:false.
	MigrateTenant tenants.MigrateFunc
	// TenantJWKSChanged is called with the tenant's id after one of its keys was added or
	// toggled (multi-tenant mode; JWKSChanged is called too).
	TenantJWKSChanged func(tenantID string)
	// ReturnSensitive is ADMIN_RETURN_TENANT_SENSITIVE_DATA: tenant answers include their
	// secrets (anonKey, databaseUrl, databasePoolUrl, jwtSecret, jwks, serviceKey).
	ReturnSensitive bool
}

// TenantInfo is what GET /tenants shows of the single tenant (no secrets: they live in
// the environment, not in a table the admin API manages).
type TenantInfo struct {
	FileSizeLimit       int64
	ImageTransformation bool
	S3Protocol          bool
}

// Handler serves the admin routes over one engine.
type Handler struct {
	engine *gateway.Engine
	opts   Options
	keys   [][sha256.Size]byte
	// generated counts the URL-signing keys generate-all-missing created ("sent" in its
	// status answer).
	generated atomic.Int64
}

// New returns a Handler. With no APIKeys every route but /status, /version and /metrics
// answers 401.
func New(e *gateway.Engine, opts Options) *Handler {
	if opts.JSONLimit <= 0 {
		opts.JSONLimit = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{engine: e, opts: opts}
	for _, k := range opts.APIKeys {
		if k = strings.TrimSpace(k); k != "" {
			h.keys = append(h.keys, sha256.Sum256([]byte(k)))
		}
	}
	return h
}

// Register mounts the authenticated routes on r (the admin app's root).
func (h *Handler) Register(r fiber.Router) {
	g := r.Group("", h.apiKey)
	if h.opts.Tenants != nil {
		h.registerMultiTenant(g)
	} else {
		h.registerSingleTenant(g)
	}
	g.Get("/tenants/:tenantId/health", h.health)
	g.Post("/tenants/jwks/generate-all-missing", h.generateMissingJWKs)
	g.Get("/tenants/jwks/generate-all-missing", h.generateStatus)
	g.Post("/tenants/:tenantId/jwks", h.addJWK)
	g.Put("/tenants/:tenantId/jwks/:kid", h.toggleJWK)
	g.Get("/tenants/:tenantId/buckets/:bucketId/orphan-objects", h.listOrphans)
	g.Delete("/tenants/:tenantId/buckets/:bucketId/orphan-objects", h.syncOrphans)
	g.Post("/s3/:tenantId/credentials", h.createCredential)
	g.Get("/s3/:tenantId/credentials", h.listCredentials)
	g.Delete("/s3/:tenantId/credentials", h.deleteCredential)
	for _, p := range []string{"/queue/migrate/pgboss-v10", "/queue/move"} {
		g.Post(p, queueNotEnabled)
	}
}

// registerSingleTenant mounts the tenant and migration routes of single-tenant mode.
func (h *Handler) registerSingleTenant(g fiber.Router) {
	g.Get("/tenants", h.listTenants)
	g.Get("/tenants/:tenantId", h.getTenant)
	for _, m := range []string{fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete} {
		g.Add(m, "/tenants/:tenantId", h.tenantsNotManaged)
	}
	g.Get("/tenants/:tenantId/migrations", h.migrationStatus)
	g.Post("/tenants/:tenantId/migrations", h.runMigrations)
	for _, p := range []string{"/migrations/migrate/fleet", "/migrations/reset/fleet"} {
		g.Post(p, queueNotEnabled)
	}
	for _, p := range []string{"/migrations/active", "/migrations/progress", "/migrations/failed"} {
		g.Get(p, queueNotEnabled)
	}
	g.Delete("/migrations/active", queueNotEnabled)
}

// apiKey admits requests whose apikey header is one of the keys, as the reference's
// plugin does (401, empty body, otherwise). Keys are compared as SHA-256 digests in
// constant time, so neither a key's content nor its length shows in the timing.
func (h *Handler) apiKey(c *fiber.Ctx) error {
	got := sha256.Sum256(c.Request().Header.Peek("apikey"))
	ok := 0
	for i := range h.keys {
		ok |= subtle.ConstantTimeCompare(got[:], h.keys[i][:])
	}
	if ok != 1 || len(c.Request().Header.Peek("apikey")) == 0 {
		return c.Status(fiber.StatusUnauthorized).Send(nil) // empty body, as the reference
	}
	return c.Next()
}

// known reports whether the route's tenant is the one served (single-tenant mode).
func (h *Handler) known(c *fiber.Ctx) bool {
	return h.engine != nil && c.Params("tenantId") == h.engine.TenantID()
}

// tenantNotFound is the reference's answer for an unknown tenant.
func tenantNotFound(c *fiber.Ctx) error {
	return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "Tenant not found"})
}

// errTenantNotFound renders as tenantNotFound.
var errTenantNotFound = &apiError{HTTP: fiber.StatusNotFound}

// engineFor returns the engine of the route's tenant: the one engine in single-tenant
// mode, Options.Engine's in multi-tenant mode. An unknown tenant is errTenantNotFound.
// Without an error, release must be called when the handler's work with e is done (after
// a streamed response, by its writer).
func (h *Handler) engineFor(c *fiber.Ctx) (e *gateway.Engine, release func(), err error) {
	if h.opts.Tenants == nil {
		if !h.known(c) {
			return nil, nil, errTenantNotFound
		}
		return h.engine, func() {}, nil
	}
	if h.opts.Engine == nil {
		return nil, nil, &apiError{HTTP: fiber.StatusNotImplemented, StatusCode: "501", Err: "Not Implemented",
			Message: "This admin server has no per-tenant engines"}
	}
	e, release, err = h.opts.Engine(c.UserContext(), strings.Clone(c.Params("tenantId")))
	if errors.Is(err, tenants.ErrNotFound) {
		return nil, nil, errTenantNotFound
	}
	return e, release, err
}

// readJSON decodes a JSON body of at most JSONLimit bytes into v. An empty body decodes
// as null (v keeps its zero value).
func (h *Handler) readJSON(c *fiber.Ctx, v any) error {
	if n := c.Request().Header.ContentLength(); int64(n) > h.opts.JSONLimit {
		return validation(fiber.StatusRequestEntityTooLarge, "Request body is too large")
	}
	var r io.Reader = c.Context().RequestBodyStream()
	if r == nil {
		r = strings.NewReader(string(c.Body()))
	}
	data, err := io.ReadAll(io.LimitReader(r, h.opts.JSONLimit+1))
	if err != nil {
		return validation(fiber.StatusBadRequest, "Request body could not be read")
	}
	if int64(len(data)) > h.opts.JSONLimit {
		return validation(fiber.StatusRequestEntityTooLarge, "Request body is too large")
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return validation(fiber.StatusBadRequest, "Body is not valid JSON but content-type is set to 'application/json'")
	}
	return nil
}

func queueNotEnabled(c *fiber.Ctx) error {
	return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"message": "Queue is not enabled"})
}
