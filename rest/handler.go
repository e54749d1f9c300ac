// Package rest is the Supabase Storage REST dialect: /bucket and /object routes, the
// reference's JSON envelope, JWT auth. Each handler parses, makes one engine call and renders.
package rest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
)

// Options configure the REST dialect.
type Options struct {
	Verifier *auth.Verifier
	Roles    auth.Roles
	// StandardLimit is UPLOAD_FILE_SIZE_LIMIT_STANDARD (0 = off).
	StandardLimit int64
	// JSONLimit caps JSON request bodies.
	JSONLimit int64
	Logger    *slog.Logger
}

// Handler serves the REST routes over one engine.
type Handler struct {
	engine *gateway.Engine
	opts   Options
}

// New returns a Handler.
func New(e *gateway.Engine, opts Options) *Handler {
	if opts.JSONLimit <= 0 {
		opts.JSONLimit = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{engine: e, opts: opts}
}

// Register mounts the routes on r (the root and /storage/v1 both use it).
func (h *Handler) Register(r fiber.Router) {
	r.Post("/bucket", h.createBucket)
	r.Get("/bucket", h.listBuckets)
	r.Get("/bucket/:bucket", h.getBucket)
	r.Put("/bucket/:bucket", h.updateBucket)
	r.Delete("/bucket/:bucket", h.deleteBucket)
	r.Post("/bucket/:bucket/empty", h.emptyBucket)

	r.Get("/object/authenticated/:bucket/*", h.download(accessRequired))
	r.Head("/object/authenticated/:bucket/*", h.download(accessRequired))
	r.Get("/object/public/:bucket/*", h.download(accessPublic))
	r.Head("/object/public/:bucket/*", h.download(accessPublic))
	r.Post("/object/:bucket/*", h.upload(false))
	r.Put("/object/:bucket/*", h.upload(true))
	r.Get("/object/:bucket/*", h.download(accessOptional))
	r.Head("/object/:bucket/*", h.download(accessOptional))
	r.Delete("/object/:bucket/*", h.deleteObject)
}

// access is a route's authorisation class (rest-api.md §0.2).
type access int

const (
	accessRequired access = iota // a valid JWT is mandatory; RLS decides
	accessOptional               // no/invalid JWT acts as anon: public buckets only
	accessPublic                 // no JWT read at all; the bucket must be public
)

// principal reads the caller's identity. A missing or invalid token is an AccessDenied
// error for required routes; optional routes fall back to anon.
func (h *Handler) principal(c *fiber.Ctx, class access) (auth.Principal, bool, error) {
	if class == accessPublic {
		return h.opts.Roles.Anonymous(), false, nil
	}
	token := auth.BearerToken(c.Get(fiber.HeaderAuthorization))
	if token == "" {
		if class == accessOptional {
			return h.opts.Roles.Anonymous(), false, nil
		}
		return auth.Principal{}, false, newAPIError(400, 400, "Error", "InvalidRequest", "headers must have required property 'authorization'")
	}
	p, err := h.opts.Verifier.Verify(token)
	if err != nil {
		if class == accessOptional {
			return h.opts.Roles.Anonymous(), false, nil
		}
		return auth.Principal{}, false, newAPIError(400, 403, "Unauthorized", "AccessDenied", strings.TrimPrefix(err.Error(), auth.ErrInvalidToken.Error()+": "))
	}
	return p, true, nil
}

// caller builds the engine's view of this request for RLS: identity, operation name and
// the request line and headers PostgREST-style policies may read.
func (h *Handler) caller(c *fiber.Ctx, p auth.Principal, op string) gateway.Caller {
	headers := make(map[string]string)
	c.Request().Header.VisitAll(func(k, v []byte) {
		headers[strings.ToLower(string(k))] = string(v)
	})
	hj, _ := json.Marshal(headers)
	return gateway.Caller{Principal: p, Operation: op, Method: c.Method(), Path: c.OriginalURL(), Headers: string(hj)}
}

// objectPath returns the bucket and the once-percent-decoded key of an /object route.
func objectPath(c *fiber.Ctx) (string, string, error) {
	bucket, err := url.PathUnescape(c.Params("bucket"))
	if err != nil {
		return "", "", &gateway.Error{Code: gateway.CodeInvalidBucketName, Message: "Bucket name invalid"}
	}
	key, err := url.PathUnescape(c.Params("*"))
	if err != nil {
		return "", "", &gateway.Error{Code: gateway.CodeInvalidKey, Key: c.Params("*"), Message: "Invalid key: " + c.Params("*")}
	}
	return bucket, key, nil
}

// readJSON decodes a small JSON body through a limited reader: bodies arrive as streams and
// are never read past the cap.
func (h *Handler) readJSON(c *fiber.Ctx, v any, allowEmpty bool) error {
	var body io.Reader = c.Context().RequestBodyStream()
	if body == nil {
		body = strings.NewReader("")
	}
	if n := c.Request().Header.ContentLength(); int64(n) > h.opts.JSONLimit {
		return newAPIError(413, 413, "FastifyError", "EntityTooLarge", "Request body is too large")
	}
	data, err := io.ReadAll(io.LimitReader(body, h.opts.JSONLimit+1))
	if err != nil {
		return &gateway.Error{Code: gateway.CodeIncompleteBody, Err: err}
	}
	if int64(len(data)) > h.opts.JSONLimit {
		return newAPIError(413, 413, "FastifyError", "EntityTooLarge", "Request body is too large")
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		if allowEmpty {
			return nil
		}
		return newAPIError(400, 400, "FastifyError", "InvalidRequest", "Body cannot be empty when content-type is set to 'application/json'")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return newAPIError(400, 400, "FastifyError", "InvalidRequest", "Body is not valid JSON but content-type is set to 'application/json'")
	}
	return nil
}
