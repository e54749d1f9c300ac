package admin

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthTimeout bounds the health route's database check.
const healthTimeout = 5 * time.Second

// tenantView is the reference's tenant shape, without the secrets (anonKey, databaseUrl,
// jwtSecret, serviceKey): a single-tenant Stowage takes them from its environment.
type tenantView struct {
	ID               string         `json:"id"`
	FileSizeLimit    int64          `json:"fileSizeLimit"`
	Features         map[string]any `json:"features"`
	MigrationVersion string         `json:"migrationVersion,omitempty"`
	MigrationStatus  string         `json:"migrationStatus,omitempty"`
}

func (h *Handler) tenantView(ctx context.Context) tenantView {
	v := tenantView{ID: h.engine.TenantID(), FileSizeLimit: h.opts.Tenant.FileSizeLimit, Features: map[string]any{
		"imageTransformation": map[string]any{"enabled": h.opts.Tenant.ImageTransformation},
		"s3Protocol":          map[string]any{"enabled": h.opts.Tenant.S3Protocol},
	}}
	if st, err := h.engine.Migrations(ctx); err == nil {
		v.MigrationVersion, v.MigrationStatus = st.Version, migrationStatus(st.Latest)
	}
	return v
}

// migrationStatus is the reference's tenants.migrations_status value.
func migrationStatus(latest bool) string {
	if latest {
		return "COMPLETED"
	}
	return "FAILED"
}

func (h *Handler) listTenants(c *fiber.Ctx) error {
	return c.JSON([]tenantView{h.tenantView(c.UserContext())})
}

// getTenant answers the served tenant, or 404 with no body as the reference.
func (h *Handler) getTenant(c *fiber.Ctx) error {
	if !h.known(c) {
		return c.Status(fiber.StatusNotFound).Send(nil)
	}
	return c.JSON(h.tenantView(c.UserContext()))
}

// tenantsNotManaged answers creating, replacing, patching or deleting a tenant, which
// needs the multi-tenant control database.
func (h *Handler) tenantsNotManaged(c *fiber.Ctx) error {
	return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{
		"message": "Tenants are managed in multi-tenant mode only; this server serves one tenant (TENANT_ID)"})
}

// health answers {"healthy": bool}, 200 either way, as the reference.
func (h *Handler) health(c *fiber.Ctx) error {
	e, release, err := h.engineFor(c)
	if errors.Is(err, errTenantNotFound) {
		return err
	}
	if err != nil {
		// The tenant exists but its engine cannot be built (its database is down).
		h.opts.Logger.WarnContext(c.UserContext(), "admin: tenant health check failed", "err", err)
		return c.JSON(fiber.Map{"healthy": false})
	}
	defer release()
	ctx, cancel := context.WithTimeout(c.UserContext(), healthTimeout)
	defer cancel()
	return c.JSON(fiber.Map{"healthy": e.Ping(ctx) == nil})
}

func (h *Handler) migrationStatus(c *fiber.Ctx) error {
	if !h.known(c) {
		return tenantNotFound(c)
	}
	st, err := h.engine.Migrations(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"isLatest": st.Latest, "migrationsVersion": st.Version, "migrationsStatus": migrationStatus(st.Latest)})
}

// runMigrations migrates the tenant database: 200 {"migrated":true}, or 400
// {"migrated":false,"error":...} as the reference.
func (h *Handler) runMigrations(c *fiber.Ctx) error {
	if !h.known(c) {
		return tenantNotFound(c)
	}
	if h.opts.Migrate == nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"migrated": false, "error": "migrations are not available"})
	}
	if err := h.opts.Migrate(c.UserContext()); err != nil {
		h.opts.Logger.ErrorContext(c.UserContext(), "admin: tenant migrations failed", "err", err)
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"migrated": false, "error": err.Error()})
	}
	return c.JSON(fiber.Map{"migrated": true})
}
