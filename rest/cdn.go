package rest

import (
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway/auth"
)

// purgeCDN serves DELETE /cdn[/{bucket}[/{key...}]] as the reference does without
// CDN_PURGE_ENDPOINT_URL (the self-hosted default; Stowage has no CDN to purge): service
// role only, then MissingParameter.
func (h *Handler) purgeCDN(c *fiber.Ctx) error {
	if _, err := h.serviceRole(c); err != nil {
		return err
	}
	return newAPIError(400, 400, "MissingParameter", "MissingParameter", "Missing Required Parameter CDN_PURGE_ENDPOINT_URL is not set")
}

// serviceRole admits only a verified service_role token (rest-api.md §0.2), answering
// HTTP 403 otherwise.
func (h *Handler) serviceRole(c *fiber.Ctx) (auth.Principal, error) {
	p, ok, err := h.principal(c, accessRequired)
	if err != nil || !ok {
		return p, newAPIError(403, 403, "Unauthorized", "AccessDenied", "Access denied: JWT is not authenticated")
	}
	if p.Role != h.opts.Roles.Service {
		return p, newAPIError(403, 403, "Unauthorized", "AccessDenied", "Access denied: Invalid role")
	}
	return p, nil
}
