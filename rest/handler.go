// Package rest is the Supabase Storage REST dialect: /bucket and /object routes, the
// reference's JSON envelope, JWT auth. Each handler parses, makes one engine call and renders.
package rest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

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
	// SignedUploadExpiry is UPLOAD_SIGNED_URL_EXPIRATION_TIME (default 60 s).
	SignedUploadExpiry time.Duration
	// SMaxAge is RESPONSE_S_MAXAGE in seconds (0 = off).
	SMaxAge int
	Logger  *slog.Logger
	// Now is the clock of minted tokens (time.Now when nil).
	Now func() time.Time
	// SignTransform, when set (image transformation is on), reads the transform object of
	// POST /object/sign into the token's transformations and format claims; an empty
	// transformations claim means a plain /object/sign URL. rest/render provides it; nil
	// ignores transform, as the reference does with transformations off.
	SignTransform func(transform json.RawMessage) (transformations, format string, err error)
	// PurgeBucket, when set, is told of a bucket an update turned from public to private,
	// so the CDN in front forgets it (cdn.Purger.BucketPurger); it must not block.
	PurgeBucket func(ctx context.Context, bucket string)
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
	if opts.SignedUploadExpiry <= 0 {
		opts.SignedUploadExpiry = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{engine: e, opts: opts}
}

// Register mounts the routes on r (the root and /storage/v1 both use it). fiber matches
// routes in registration order, so the fixed /object/<word>/ routes come before the
// catch-all /object/:bucket/*.
func (h *Handler) Register(r fiber.Router) {
	r.Get("/health", h.health)

	r.Post("/bucket", h.createBucket)
	r.Get("/bucket", h.listBuckets)
	r.Get("/bucket/:bucket", h.getBucket)
	r.Put("/bucket/:bucket", h.updateBucket)
	r.Delete("/bucket/:bucket", h.deleteBucket)
	r.Post("/bucket/:bucket/empty", h.emptyBucket)

	r.Post("/object/move", h.moveObject)
	r.Post("/object/copy", h.copyObject)
	r.Post("/object/list/:bucket", h.listObjects)
	r.Post("/object/list-v2/:bucket", h.listObjectsV2)
	r.Post("/object/sign/:bucket", h.signURLs)
	r.Post("/object/sign/:bucket/*", keyed(h.signURL))
	r.Get("/object/sign/:bucket/*", keyed(h.signedDownload))
	r.Head("/object/sign/:bucket/*", keyed(h.signedDownload))
	r.Post("/object/upload/sign/:bucket/*", keyed(h.createUploadURL))
	r.Put("/object/upload/sign/:bucket/*", keyed(h.signedUpload))

	for prefix, class := range map[string]access{"/authenticated": accessRequired, "/public": accessPublic} {
		r.Get("/object/info"+prefix+"/:bucket/*", keyed(h.info(class)))
		r.Head("/object/info"+prefix+"/:bucket/*", keyed(h.info(class)))
		r.Get("/object"+prefix+"/:bucket/*", keyed(h.download(class)))
		r.Head("/object"+prefix+"/:bucket/*", keyed(h.download(class)))
	}
	r.Get("/object/info/:bucket/*", keyed(h.info(accessOptional)))
	r.Head("/object/info/:bucket/*", keyed(h.info(accessOptional)))

	r.Post("/object/:bucket/*", keyed(h.upload(false)))
	r.Put("/object/:bucket/*", keyed(h.upload(true)))
	r.Get("/object/:bucket/*", keyed(h.download(accessOptional)))
	r.Head("/object/:bucket/*", keyed(h.download(accessOptional)))
	r.Delete("/object/:bucket", h.deleteObjects)
	r.Delete("/object/:bucket/*", keyed(h.deleteObject))

	r.All("/object", routeNotFound)
	r.All("/object/*", routeNotFound)
	r.All("/bucket", routeNotFound)
	r.All("/bucket/*", routeNotFound)
}

// keyed guards a /{bucket}/{key...} route: without a key segment the path is not this
// route's (fiber's "*" also matches nothing at all, the reference's does not), so the
// request goes on to the next route that matches, as in the reference's router.
func keyed(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Params("*") == "" && !strings.HasSuffix(c.Path(), "/") {
			return c.Next()
		}
		return h(c)
	}
}

// Access is a route's authorisation class (rest-api.md §0.2). Routes served beside the
// REST ones (rest/render) pass AccessRequired or AccessPublic to Handler.Principal.
type Access int

// access is the name the package's own handlers use.
type access = Access

// The classes other packages use.
const (
	AccessRequired = accessRequired
	AccessPublic   = accessPublic
)

const (
	accessRequired access = iota // a valid JWT is mandatory; RLS decides
	accessOptional               // no/invalid JWT acts as anon: public buckets only
	accessPublic                 // no JWT read at all; the bucket must be public
	// accessRequiredNoSchema is required auth on routes without the reference's header
	// schema: a missing token is AccessDenied "Invalid Compact JWS", not a validation error.
	accessRequiredNoSchema
)

// bearer is the request's token: Authorization, or the apikey header when no
// Authorization header was sent.
//
// Deviation: the reference ignores apikey (its gateway consumes it); supabase-js sends
// both headers, so accepting apikey alone lets clients talk to Stowage without a gateway.
// RequestToken is the credential of a request as every JWT route reads it: Authorization
// ("Bearer" optional), else the apikey header that supabase-js sends too.
func RequestToken(c *fiber.Ctx) string { return bearer(c) }

func bearer(c *fiber.Ctx) string {
	if v := c.Get(fiber.HeaderAuthorization); v != "" {
		return auth.BearerToken(v)
	}
	return strings.TrimSpace(c.Get("apikey"))
}

// principal reads the caller's identity. A missing or invalid token is an error for
// required routes; optional routes fall back to anon. authed reports a verified token.
func (h *Handler) principal(c *fiber.Ctx, class access) (p auth.Principal, authed bool, err error) {
	if class == accessPublic {
		return h.opts.Roles.Anonymous(), false, nil
	}
	token := bearer(c)
	if token == "" {
		switch class {
		case accessOptional:
			return h.opts.Roles.Anonymous(), false, nil
		case accessRequiredNoSchema:
			return auth.Principal{}, false, accessDenied("Invalid Compact JWS")
		}
		return auth.Principal{}, false, validationError("headers must have required property 'authorization'")
	}
	p, err = h.opts.Verifier.Verify(token)
	if err != nil {
		if class == accessOptional {
			return h.opts.Roles.Anonymous(), false, nil
		}
		return auth.Principal{}, false, accessDenied(auth.Message(err))
	}
	return p, true, nil
}

// Principal reads the caller's identity for class as the REST routes do: Authorization
// (else apikey), anon for AccessPublic.
func (h *Handler) Principal(c *fiber.Ctx, class Access) (auth.Principal, error) {
	p, _, err := h.principal(c, class)
	return p, err
}

// Caller is the engine's view of the request for RLS policies, as the REST routes build it.
func (h *Handler) Caller(c *fiber.Ctx, p auth.Principal, op string) gateway.Caller {
	return NewCaller(c, p, op)
}

// VerifyDownloadToken checks the token of a signed download URL for bucket/key (as
// GET /object/sign does) and returns its claims.
func (h *Handler) VerifyDownloadToken(token, bucket, key string) (map[string]any, error) {
	return h.verifyURLToken(token, bucket, key, "download")
}

// ObjectPath returns the bucket and the once-percent-decoded key of a /{bucket}/{key...}
// route.
func ObjectPath(c *fiber.Ctx) (bucket, key string, err error) { return objectPath(c) }

// ContentDisposition is the Content-Disposition of ?download[=name], as the object routes
// send it.
func ContentDisposition(name string) string { return contentDisposition(name) }

// caller builds the engine's view of this request for RLS: identity, operation name and
// the request line and headers PostgREST-style policies may read.
func (h *Handler) caller(c *fiber.Ctx, p auth.Principal, op string) gateway.Caller {
	return NewCaller(c, p, op)
}

// NewCaller is the engine's view of a request for RLS policies: identity, operation name,
// and the request line and all headers (lower-case names, authorization included, as the
// reference sets request.headers), for every dialect that speaks over fiber and JWTs.
func NewCaller(c *fiber.Ctx, p auth.Principal, op string) gateway.Caller {
	return gateway.Caller{Principal: p, Operation: op, Method: c.Method(), Path: c.OriginalURL(),
		Headers: gateway.RequestHeaders(c.Request().Header.VisitAll, nil)}
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
		if allowEmpty || !strings.HasPrefix(c.Get(fiber.HeaderContentType), "application/json") {
			return nil
		}
		return newAPIError(400, 400, "FastifyError", "InvalidRequest", "Body cannot be empty when content-type is set to 'application/json'")
	}
	if !json.Valid(data) {
		return newAPIError(400, 400, "FastifyError", "InvalidRequest", "Body is not valid JSON but content-type is set to 'application/json'")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return ae
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return validationError("body/" + strings.ReplaceAll(te.Field, ".", "/") + " must be " + jsonTypeName(te.Type.Kind().String()))
		}
		return validationError("body must be object")
	}
	return nil
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	case "bool":
		return "boolean"
	}
	return kind
}

// sendJSON renders v with the reference's content type.
func sendJSON(c *fiber.Ctx, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/json; charset=utf-8")
	return c.Send(b)
}
