package cdn

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/rest"
)

// HandlerOptions configure the /cdn routes.
type HandlerOptions struct {
	// REST is the REST dialect: the purge routes check the service role and answer errors
	// in its envelope, exactly as its own service-role routes do.
	REST *rest.Handler
	// Tenant is the tenant ref sent with every purge (PROJECT_REF / TENANT_ID).
	Tenant string
	Logger *slog.Logger
}

// Handler serves DELETE /cdn[/{bucket}[/{key...}]].
type Handler struct {
	purger *Purger
	opts   HandlerOptions
}

// NewHandler returns the purge routes over p (which may be unconfigured: every purge then
// answers MissingParameter, as the reference without CDN_PURGE_ENDPOINT_URL).
func NewHandler(p *Purger, opts HandlerOptions) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{purger: p, opts: opts}
}

// Register mounts the routes on r (the root and /storage/v1 both use it). Other methods
// and paths under /cdn answer the reference's unknown-route envelope.
func (h *Handler) Register(r fiber.Router) {
	r.Delete("/cdn", h.purge(TypeTenant, TypeTenantTransforms))
	r.Delete("/cdn/:bucket", h.purge(TypeBucket, TypeBucketTransforms))
	r.Delete("/cdn/:bucket/*", h.purge(TypeObject, TypeObjectTransforms))
	r.All("/cdn", rest.RouteNotFound)
	r.All("/cdn/*", rest.RouteNotFound)
}

// purge answers one route: plain is its purge type, transforms the type of
// ?transformations=true.
func (h *Handler) purge(plain, transforms Type) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if plain == TypeBucket && strings.HasSuffix(c.Path(), "/") {
			// fiber ignores a trailing slash, the reference's router does not: /cdn/b/ is
			// the object route with an empty key.
			return c.Next()
		}
		// The reference validates the query and the path before it checks the caller.
		withTransforms, err := transformations(c)
		if err != nil {
			return err
		}
		req := Request{Type: plain, Tenant: h.opts.Tenant}
		if withTransforms {
			req.Type = transforms
		}
		if plain != TypeTenant {
			if req.Bucket, err = url.PathUnescape(c.Params("bucket")); err != nil {
				return validation("params/bucketName must be string")
			}
		}
		if plain == TypeObject {
			if req.Object, err = url.PathUnescape(c.Params("*")); err != nil {
				return validation("params/* must be string")
			}
			if req.Object == "" {
				return validation("params/* must NOT have fewer than 1 characters")
			}
		}
		if _, err := h.opts.REST.ServiceRole(c); err != nil {
			return err
		}
		if err := h.purger.Purge(c.UserContext(), req); err != nil {
			return h.purgeError(c, req, err)
		}
		c.Set(fiber.HeaderContentType, "application/json; charset=utf-8")
		return c.SendString(`{"message":"success"}`)
	}
}

// transformations reads ?transformations the way the reference's schema coerces a boolean
// query parameter: absent is false, "true"/"false" are themselves, anything else (another
// word, an empty value, the parameter twice) is a validation error.
func transformations(c *fiber.Ctx) (bool, error) {
	values := c.Context().QueryArgs().PeekMulti("transformations")
	switch {
	case len(values) == 0:
		return false, nil
	case len(values) == 1 && string(values[0]) == "true":
		return true, nil
	case len(values) == 1 && string(values[0]) == "false":
		return false, nil
	}
	return false, validation("querystring/transformations must be boolean")
}

// purgeError renders a failed purge as the reference does: MissingParameter without an
// endpoint, InternalError "Error purging cache" (HTTP 500) for anything the purge service
// did wrong; the cause is logged here, where it is known.
func (h *Handler) purgeError(c *fiber.Ctx, req Request, err error) error {
	if errors.Is(err, ErrNotConfigured) {
		return rest.NewError(400, 400, "MissingParameter", "MissingParameter", "Missing Required Parameter CDN_PURGE_ENDPOINT_URL is not set")
	}
	h.opts.Logger.ErrorContext(c.UserContext(), "cdn purge failed", "type", string(req.Type),
		"bucket", req.Bucket, "err", err)
	return rest.NewError(500, 500, "InternalError", "InternalError", "Error purging cache")
}

// validation is the reference's schema validation answer (rest-api.md §0.6).
func validation(msg string) error {
	return rest.NewError(400, 400, "Error", "InvalidRequest", msg)
}
