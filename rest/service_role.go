package rest

import (
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway/auth"
)

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

// ServiceRole admits only the service role, as the reference's service-role routes do
// (HTTP 403 AccessDenied otherwise), for routes served beside the REST ones (cdn).
func (h *Handler) ServiceRole(c *fiber.Ctx) (auth.Principal, error) { return h.serviceRole(c) }
