package admin

import (
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// addJWK stores a key: 201 {"kid": "<kind>_<id>"}; a refused key answers 400 with the
// reference's message as a plain string.
func (h *Handler) addJWK(c *fiber.Ctx) error {
	e, release, err := h.engineFor(c)
	if err != nil {
		return err
	}
	defer release()
	var body struct {
		JWK  *json.RawMessage `json:"jwk"`
		Kind *json.RawMessage `json:"kind"`
	}
	if err := h.readJSON(c, &body); err != nil {
		return err
	}
	switch {
	case body.JWK == nil:
		return validation(400, "body must have required property 'jwk'")
	case body.Kind == nil:
		return validation(400, "body must have required property 'kind'")
	}
	var jwk map[string]any
	if json.Unmarshal(*body.JWK, &jwk) != nil || jwk == nil {
		return validation(400, "body/jwk must be object")
	}
	var kind string
	if json.Unmarshal(*body.Kind, &kind) != nil {
		return validation(400, "body/kind must be string")
	}
	if _, ok := jwk["kty"].(string); !ok {
		return validation(400, "body/jwk must have required property 'kty'")
	}
	if msg := checkJWK(jwk, kind); msg != "" {
		return c.Status(fiber.StatusBadRequest).SendString(msg)
	}
	kid, err := e.AddJWK(c.UserContext(), *body.JWK, kind)
	if err != nil {
		return err
	}
	h.jwksChanged(e.TenantID())
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"kid": kid})
}

// checkJWK is the reference's validation of an added key: a kind without "_" of at most
// 50 characters, a symmetric key with k, public asymmetric keys only.
func checkJWK(jwk map[string]any, kind string) string {
	has := func(names ...string) bool {
		for _, n := range names {
			if v, ok := jwk[n]; !ok || v == nil || v == "" || v == false {
				return false
			}
		}
		return true
	}
	hasAny := func(names ...string) bool {
		for _, n := range names {
			if has(n) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.Contains(kind, "_"):
		return "Kind cannot contain underscore characters"
	case len([]rune(kind)) > 50:
		return "Kind cannot exceed 50 characters"
	}
	switch kty := jwk["kty"].(string); kty {
	case "oct":
		if !has("k") {
			return "Invalid symmetric jwk. k is required"
		}
	case "RSA":
		if !has("n", "e") {
			return "Invalid asymmetric jwk. RSA must include n and e"
		}
		if hasAny("d", "p", "q", "dp", "dq", "qi") {
			return "Invalid asymmetric public jwk. Private fields are not allowed"
		}
	case "EC":
		if !has("crv", "x", "y") {
			return "Invalid asymmetric jwk. EC must include crv, x, and y"
		}
		if has("d") {
			return "Invalid asymmetric public jwk. Private fields are not allowed"
		}
	case "OKP":
		if !has("crv", "x") {
			return "Invalid asymmetric jwk. OKP must include crv and x"
		}
		if has("d") {
			return "Invalid asymmetric public jwk. Private fields are not allowed"
		}
	default:
		return "Unsupported jwk algorithm " + kty
	}
	return ""
}

// toggleJWK sets a key's active flag: 200 {"result": changed}.
func (h *Handler) toggleJWK(c *fiber.Ctx) error {
	e, release, err := h.engineFor(c)
	if err != nil {
		return err
	}
	defer release()
	var body struct {
		Active *bool `json:"active"`
	}
	if err := h.readJSON(c, &body); err != nil {
		return err
	}
	if body.Active == nil {
		return validation(400, "body must have required property 'active'")
	}
	changed, err := e.SetJWKActive(c.UserContext(), c.Params("kid"), *body.Active)
	if err != nil {
		return err
	}
	if changed {
		h.jwksChanged(e.TenantID())
	}
	return c.JSON(fiber.Map{"result": changed})
}

func (h *Handler) jwksChanged(tenantID string) {
	if h.opts.JWKSChanged != nil {
		h.opts.JWKSChanged()
	}
	if h.opts.TenantJWKSChanged != nil {
		h.opts.TenantJWKSChanged(tenantID)
	}
}

// generateMissingJWKs gives the served tenant a URL-signing key if it has none: the
// reference's fleet job over one tenant, done before answering {"started":true}.
func (h *Handler) generateMissingJWKs(c *fiber.Ctx) error {
	if h.opts.Tenants != nil {
		return h.generateMissingJWKsFleet(c)
	}
	created, err := h.engine.GenerateURLSigningJWK(c.UserContext())
	if err != nil {
		return err
	}
	if created {
		h.generated.Add(1)
		h.jwksChanged(h.engine.TenantID())
	}
	return c.JSON(fiber.Map{"started": true})
}

// generateMissingJWKsFleet gives every tenant of the control database a URL-signing key
// if it has none, one tenant after the other, before answering; a tenant whose database
// cannot be reached is skipped (logged) and gets its key on a later call.
func (h *Handler) generateMissingJWKsFleet(c *fiber.Ctx) error {
	ctx := c.UserContext()
	all, err := h.opts.Tenants.List(ctx)
	if err != nil {
		return err
	}
	if h.opts.Engine == nil {
		return c.JSON(fiber.Map{"started": true})
	}
	for _, t := range all {
		e, release, err := h.opts.Engine(ctx, t.ID)
		if err == nil {
			var created bool
			if created, err = e.GenerateURLSigningJWK(ctx); err == nil && created {
				h.generated.Add(1)
				h.jwksChanged(t.ID)
			}
			release()
		}
		if err != nil {
			h.opts.Logger.WarnContext(ctx, "admin: generate-all-missing skipped a tenant", "tenant", t.ID, "err", err)
		}
	}
	return c.JSON(fiber.Map{"started": true})
}

// generateStatus is the job's status: never running (it completes within its request).
func (h *Handler) generateStatus(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"running": false, "sent": h.generated.Load()})
}
