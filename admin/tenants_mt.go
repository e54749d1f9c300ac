package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway/tenants"
)

// registerMultiTenant mounts the tenant management and migration routes of multi-tenant
// mode, over the control database (Options.Tenants).
func (h *Handler) registerMultiTenant(g fiber.Router) {
	g.Get("/tenants", h.mtListTenants)
	g.Get("/tenants/:tenantId", h.mtGetTenant)
	g.Post("/tenants/:tenantId", h.mtCreateTenant)
	g.Put("/tenants/:tenantId", h.mtUpsertTenant)
	g.Patch("/tenants/:tenantId", h.mtPatchTenant)
	g.Delete("/tenants/:tenantId", h.mtDeleteTenant)
	g.Get("/tenants/:tenantId/migrations", h.mtMigrationStatus)
	g.Post("/tenants/:tenantId/migrations", h.mtRunMigrations)
	h.registerFleet(g)
}

// mtTenantView is the reference's tenant answer. Secrets are left out unless
// ADMIN_RETURN_TENANT_SENSITIVE_DATA; GET /tenants/{id} has no id, as the reference's.
type mtTenantView struct {
	ID              string           `json:"id,omitempty"`
	AnonKey         *string          `json:"anonKey,omitempty"`
	DatabaseURL     *string          `json:"databaseUrl,omitempty"`
	DatabasePoolURL *string          `json:"databasePoolUrl,omitempty"`
	MaxConnections  *int             `json:"maxConnections,omitempty"`
	FileSizeLimit   int64            `json:"fileSizeLimit"`
	JWTSecret       *string          `json:"jwtSecret,omitempty"`
	JWKS            *json.RawMessage `json:"jwks,omitempty"`
	ServiceKey      *string          `json:"serviceKey,omitempty"`
	Features        mtFeatures       `json:"features"`
	MigrationVer    *string          `json:"migrationVersion"`
	MigrationStatus *string          `json:"migrationStatus"`
	TracingMode     *string          `json:"tracingMode"`
}

type mtFeatures struct {
	ImageTransformation struct {
		Enabled       bool `json:"enabled"`
		MaxResolution *int `json:"maxResolution"`
	} `json:"imageTransformation"`
	S3Protocol struct {
		Enabled bool `json:"enabled"`
	} `json:"s3Protocol"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (h *Handler) mtView(t *tenants.Tenant, withID bool) mtTenantView {
	v := mtTenantView{FileSizeLimit: t.FileSizeLimit, MigrationVer: orNull(t.MigrationsVersion),
		MigrationStatus: orNull(t.MigrationsStatus), TracingMode: orNull(t.TracingMode)}
	if withID {
		v.ID = t.ID
	}
	if t.MaxConnections > 0 {
		v.MaxConnections = &t.MaxConnections
	}
	v.Features.ImageTransformation.Enabled = t.ImageTransformation
	if t.ImageTransformationMaxResolution > 0 {
		v.Features.ImageTransformation.MaxResolution = &t.ImageTransformationMaxResolution
	}
	v.Features.S3Protocol.Enabled = t.S3Protocol
	if h.opts.ReturnSensitive {
		v.AnonKey, v.DatabaseURL, v.JWTSecret, v.ServiceKey = &t.AnonKey, &t.DatabaseURL, &t.JWTSecret, &t.ServiceKey
		v.DatabasePoolURL = orNull(t.DatabasePoolURL)
		jwks := json.RawMessage("null")
		if t.JWKS != "" {
			jwks = json.RawMessage(t.JWKS)
		}
		v.JWKS = &jwks
	}
	return v
}

func (h *Handler) mtListTenants(c *fiber.Ctx) error {
	all, err := h.opts.Tenants.List(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]mtTenantView, len(all))
	for i, t := range all {
		out[i] = h.mtView(t, true)
	}
	return c.JSON(out)
}

// mtGetTenant answers the tenant, or 404 with an empty body as the reference.
func (h *Handler) mtGetTenant(c *fiber.Ctx) error {
	t, err := h.opts.Tenants.Get(c.UserContext(), strings.Clone(c.Params("tenantId")))
	if errors.Is(err, tenants.ErrNotFound) {
		return c.Status(fiber.StatusNotFound).Send(nil)
	}
	if err != nil {
		return err
	}
	return c.JSON(h.mtView(t, false))
}

// mtCreateTenant inserts the tenant (201, empty body), then migrates its database; a
// failed migration is recorded as FAILED for the fleet job to retry, as the reference
// queues it. Deviation: an existing id answers 409, not the reference's 500.
func (h *Handler) mtCreateTenant(c *fiber.Ctx) error {
	cfg, err := h.tenantBody(c, true)
	if err != nil {
		return err
	}
	if cfg.ImageTransformation == nil {
		cfg.ImageTransformation = new(bool)
	}
	id := strings.Clone(c.Params("tenantId"))
	if err := h.opts.Tenants.Create(c.UserContext(), id, cfg.Config); errors.Is(err, tenants.ErrExists) {
		return &apiError{HTTP: fiber.StatusConflict, StatusCode: "409", Err: "Conflict", Message: "Tenant " + id + " already exists"}
	} else if err != nil {
		return err
	}
	h.migrateAfterWrite(c, id)
	return c.Status(fiber.StatusCreated).Send(nil)
}

// mtUpsertTenant creates or replaces the tenant (204), then migrates its database.
func (h *Handler) mtUpsertTenant(c *fiber.Ctx) error {
	cfg, err := h.tenantBody(c, true)
	if err != nil {
		return err
	}
	// The reference's PUT always writes jwks (null when absent); other optional fields
	// only when given (and truthy).
	if cfg.JWKS == nil {
		cfg.JWKS = new(string)
	}
	if cfg.FileSizeLimit != nil && *cfg.FileSizeLimit == 0 {
		cfg.FileSizeLimit = nil
	}
	if cfg.TracingMode != nil && *cfg.TracingMode == "" {
		cfg.TracingMode = nil
	}
	id := strings.Clone(c.Params("tenantId"))
	if err := h.opts.Tenants.Upsert(c.UserContext(), id, cfg.Config); err != nil {
		return err
	}
	h.migrateAfterWrite(c, id)
	return c.Status(fiber.StatusNoContent).Send(nil)
}

// mtPatchTenant changes the given fields (204, also for an unknown id, as the
// reference); a new databaseUrl is migrated.
func (h *Handler) mtPatchTenant(c *fiber.Ctx) error {
	cfg, err := h.tenantBody(c, false)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("tenantId"))
	err = h.opts.Tenants.Patch(c.UserContext(), id, cfg.Config)
	if errors.Is(err, tenants.ErrNotFound) {
		return c.Status(fiber.StatusNoContent).Send(nil)
	}
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != nil && *cfg.DatabaseURL != "" {
		h.migrateAfterWrite(c, id)
	}
	return c.Status(fiber.StatusNoContent).Send(nil)
}

// mtDeleteTenant removes the tenant from the control database (204 whether or not it
// existed); its database and stored bytes are left alone, as the reference does.
func (h *Handler) mtDeleteTenant(c *fiber.Ctx) error {
	if _, err := h.opts.Tenants.Delete(c.UserContext(), strings.Clone(c.Params("tenantId"))); err != nil {
		return err
	}
	return c.Status(fiber.StatusNoContent).Send(nil)
}

// migrateAfterWrite migrates the tenant's database after a write; a failure is recorded
// (FAILED) and logged, not answered: the reference queues such a tenant for later.
func (h *Handler) migrateAfterWrite(c *fiber.Ctx, id string) {
	if h.opts.MigrateTenant == nil {
		return
	}
	ctx := c.UserContext()
	t, err := h.opts.Tenants.Get(ctx, id)
	if err == nil {
		err = h.opts.Tenants.MigrateTenant(ctx, t, h.opts.MigrateTenant)
	}
	if err != nil {
		h.opts.Logger.WarnContext(ctx, "admin: tenant migrations failed; the fleet job retries them", "tenant", id, "err", err)
	}
}

// mtMigrationStatus answers the recorded migration state of the tenant.
func (h *Handler) mtMigrationStatus(c *fiber.Ctx) error {
	t, err := h.opts.Tenants.Get(c.UserContext(), strings.Clone(c.Params("tenantId")))
	if errors.Is(err, tenants.ErrNotFound) {
		return tenantNotFound(c)
	}
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"isLatest": t.MigrationsVersion == tenants.LatestMigration(),
		"migrationsVersion": orNull(t.MigrationsVersion), "migrationsStatus": orNull(t.MigrationsStatus)})
}

// mtRunMigrations migrates the tenant's database now: {"migrated":true}, or 400
// {"migrated":false,"error":...}.
func (h *Handler) mtRunMigrations(c *fiber.Ctx) error {
	t, err := h.opts.Tenants.Get(c.UserContext(), strings.Clone(c.Params("tenantId")))
	if errors.Is(err, tenants.ErrNotFound) {
		return tenantNotFound(c)
	}
	if err != nil {
		return err
	}
	if h.opts.MigrateTenant == nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"migrated": false, "error": "migrations are not available"})
	}
	if err := h.opts.Tenants.MigrateTenant(c.UserContext(), t, h.opts.MigrateTenant); err != nil {
		h.opts.Logger.ErrorContext(c.UserContext(), "admin: tenant migrations failed", "tenant", t.ID, "err", err)
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"migrated": false, "error": err.Error()})
	}
	return c.JSON(fiber.Map{"migrated": true})
}

// tenantBody is a parsed tenant body.
type tenantBody struct{ tenants.Config }

// invalidTenantID answers an id tenants.ValidID refuses (Deviation: the reference takes
// any string; the id is the first segment of the tenant's store keys).
var invalidTenantID = validation(400, "params/tenantId must match pattern \"^[A-Za-z0-9_-]{1,63}$\"")

// tenantBody reads and checks a tenant body against the reference's JSON schema
// (required: anonKey, databaseUrl, jwtSecret, serviceKey for POST and PUT), with its
// messages ("body must have required property 'anonKey'", "body/fileSizeLimit must be
// number").
func (h *Handler) tenantBody(c *fiber.Ctx, full bool) (tenantBody, error) {
	if full && !tenants.ValidID(c.Params("tenantId")) {
		return tenantBody{}, invalidTenantID
	}
	var raw map[string]json.RawMessage
	if err := h.readJSON(c, &raw); err != nil {
		return tenantBody{}, err
	}
	if raw == nil {
		return tenantBody{}, validation(400, "body must be object")
	}
	var b tenantBody
	if full {
		for _, k := range []string{"anonKey", "databaseUrl", "jwtSecret", "serviceKey"} {
			if _, ok := raw[k]; !ok {
				return b, validation(400, "body must have required property '"+k+"'")
			}
		}
	}
	p := fieldParser{raw: raw}
	b.AnonKey = p.str("anonKey")
	b.DatabaseURL = p.str("databaseUrl")
	b.JWTSecret = p.str("jwtSecret")
	b.ServiceKey = p.str("serviceKey")
	b.TracingMode = p.str("tracingMode")
	if pool, set := p.nullableStr("databasePoolUrl"); set && (pool == nil || *pool != "") {
		// A string sets it, null clears it; "" leaves it as it is (the reference's rule).
		if pool == nil {
			pool = new(string)
		}
		b.DatabasePoolURL = pool
	}
	if n := p.num("maxConnections"); n != nil && *n != 0 {
		v := int(*n)
		b.MaxConnections = &v
	}
	if n := p.num("fileSizeLimit"); n != nil {
		v := int64(*n)
		b.FileSizeLimit = &v
	}
	if j, ok := raw["jwks"]; ok {
		t := bytes.TrimSpace(j)
		if len(t) == 0 || (t[0] != '{' && string(t) != "null") {
			p.fail("body/jwks must be object")
		} else {
			s := string(t)
			b.JWKS = &s
		}
	}
	if f, ok := raw["features"]; ok {
		h.parseFeatures(&p, f, &b)
	}
	if p.err != nil {
		return b, p.err
	}
	return b, nil
}

func (h *Handler) parseFeatures(p *fieldParser, f json.RawMessage, b *tenantBody) {
	var feats map[string]json.RawMessage
	if json.Unmarshal(f, &feats) != nil || feats == nil {
		p.fail("body/features must be object")
		return
	}
	if it, ok := feats["imageTransformation"]; ok {
		var m map[string]json.RawMessage
		if json.Unmarshal(it, &m) != nil || m == nil {
			p.fail("body/features/imageTransformation must be object")
			return
		}
		q := fieldParser{raw: m, prefix: "body/features/imageTransformation/"}
		b.ImageTransformation = q.boolean("enabled")
		if _, ok := m["maxResolution"]; ok {
			n := q.num("maxResolution") // null: nil, cleared below
			v := 0
			if n != nil {
				v = int(*n)
			}
			b.ImageTransformationMaxResolution = &v
		}
		p.merge(q)
	}
	if s3, ok := feats["s3Protocol"]; ok {
		var m map[string]json.RawMessage
		if json.Unmarshal(s3, &m) != nil || m == nil {
			p.fail("body/features/s3Protocol must be object")
			return
		}
		q := fieldParser{raw: m, prefix: "body/features/s3Protocol/"}
		b.S3Protocol = q.boolean("enabled")
		p.merge(q)
	}
}

// fieldParser reads typed fields of a JSON object, remembering the first type error in
// the reference's wording.
type fieldParser struct {
	raw    map[string]json.RawMessage
	prefix string
	err    error
}

func (p *fieldParser) path(k string) string {
	if p.prefix == "" {
		return "body/" + k
	}
	return p.prefix + k
}

func (p *fieldParser) fail(msg string) {
	if p.err == nil {
		p.err = validation(400, msg)
	}
}

func (p *fieldParser) merge(q fieldParser) {
	if q.err != nil && p.err == nil {
		p.err = q.err
	}
}

func (p *fieldParser) str(k string) *string {
	v, ok := p.raw[k]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) != nil || string(bytes.TrimSpace(v)) == "null" {
		p.fail(p.path(k) + " must be string")
		return nil
	}
	return &s
}

// nullableStr reads a string that may be null; set reports whether the key was there.
func (p *fieldParser) nullableStr(k string) (v *string, set bool) {
	raw, ok := p.raw[k]
	if !ok {
		return nil, false
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, true
	}
	return p.str(k), true
}

func (p *fieldParser) num(k string) *float64 {
	v, ok := p.raw[k]
	if !ok || string(bytes.TrimSpace(v)) == "null" {
		return nil
	}
	var n float64
	if json.Unmarshal(v, &n) != nil {
		p.fail(p.path(k) + " must be number")
		return nil
	}
	return &n
}

func (p *fieldParser) boolean(k string) *bool {
	v, ok := p.raw[k]
	if !ok {
		return nil
	}
	var x bool
	if json.Unmarshal(v, &x) != nil || string(bytes.TrimSpace(v)) == "null" {
		p.fail(p.path(k) + " must be boolean")
		return nil
	}
	return &x
}
