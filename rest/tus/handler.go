// Package tus is the resumable upload dialect: TUS 1.0.0 at /upload/resumable (and
// /upload/resumable/sign for signed upload tokens), as the reference server speaks it
// (spec tus.md). Each handler checks the protocol headers, makes one engine call and
// answers with TUS headers; errors are plain text with their logical status.
package tus

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/rest"
)

// Version is the TUS protocol version spoken.
const Version = "1.0.0"

// Extensions are the extensions advertised, as the reference does.
const Extensions = "creation,creation-with-upload,creation-defer-length,termination,expiration"

// mount is the fixed path of the routes; URLPath only changes Location.
const mount = "/upload/resumable"

const corsHeaders = "Authorization, Content-Type, Location, Tus-Extension, Tus-Max-Size, Tus-Resumable, " +
	"Tus-Version, Upload-Concat, Upload-Defer-Length, Upload-Length, Upload-Metadata, Upload-Offset, " +
	"X-HTTP-Method-Override, X-Requested-With, X-Forwarded-Host, X-Forwarded-Proto, Forwarded"

// Options configure the dialect.
type Options struct {
	Verifier *auth.Verifier
	Roles    auth.Roles
	// URLPath is TUS_URL_PATH: the path written into Location.
	URLPath string
	// Expiry is TUS_URL_EXPIRY_MS: how long an upload may stay incomplete.
	Expiry time.Duration
	// MaxSize is UPLOAD_FILE_SIZE_LIMIT, advertised as Tus-Max-Size.
	MaxSize int64
	// PublicProto and PublicHost come from STORAGE_PUBLIC_URL and override the request's
	// own in Location; ForceHTTPS is NODE_ENV=production; AllowForwardedPath
	// (REQUEST_ALLOW_X_FORWARDED_PATH) puts X-Forwarded-Prefix before URLPath.
	PublicProto, PublicHost string
	ForceHTTPS              bool
	AllowForwardedPath      bool
	Logger                  *slog.Logger
}

// Handler serves the TUS routes over one engine.
type Handler struct {
	engine *gateway.Engine
	opts   Options
}

// New returns a Handler.
func New(e *gateway.Engine, opts Options) *Handler {
	if opts.URLPath == "" {
		opts.URLPath = mount
	}
	if opts.Expiry <= 0 {
		opts.Expiry = gateway.TusMaxExpiry
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{engine: e, opts: opts}
}

// Register mounts the routes on r (the root and /storage/v1 both use it). The /sign
// routes come first: fiber matches in registration order.
func (h *Handler) Register(r fiber.Router) {
	for _, p := range []string{mount, mount + "/*"} {
		r.Options(p, h.options)
	}
	r.Post(mount+"/sign", h.wrap(true, h.create))
	r.Head(mount+"/sign/:id", h.wrap(true, h.head))
	r.Patch(mount+"/sign/:id", h.wrap(true, h.patch))
	r.Delete(mount+"/sign/:id", h.wrap(true, h.terminate))
	r.Post(mount, h.wrap(false, h.create))
	r.Post(mount+"/*", h.wrap(false, h.create))
	r.Head(mount+"/:id", h.wrap(false, h.head))
	r.Patch(mount+"/:id", h.wrap(false, h.patch))
	r.Delete(mount+"/:id", h.wrap(false, h.terminate))
	r.Get(mount, h.notRouted)
	r.Get(mount+"/*", h.notRouted)
	r.Put(mount, h.notFound)
	r.Put(mount+"/*", h.notFound)
}

// request is one authorised TUS request.
type request struct {
	caller gateway.Caller
	signed bool
	// claims of the signed upload token (signed routes only).
	claims map[string]any
	upsert bool
}

func setCommon(c *fiber.Ctx) {
	c.Set("Tus-Resumable", Version)
	c.Set("Access-Control-Allow-Origin", "*")
	c.Set("Access-Control-Expose-Headers", corsHeaders)
}

// options answers OPTIONS: no auth, no Tus-Resumable needed.
func (h *Handler) options(c *fiber.Ctx) error {
	setCommon(c)
	c.Set("Tus-Version", Version)
	c.Set("Tus-Extension", Extensions)
	c.Set("Tus-Max-Size", strconv.FormatInt(h.opts.MaxSize, 10))
	c.Set("Access-Control-Allow-Methods", "POST, HEAD, PATCH, OPTIONS, DELETE")
	c.Set("Access-Control-Allow-Headers", corsHeaders+", Authorization, X-Upsert, Upload-Expires, ApiKey, x-signature")
	c.Set("Access-Control-Max-Age", "86400")
	return c.SendStatus(fiber.StatusNoContent)
}

// notRouted answers GET as the reference's framework does for a method it has no route
// for: its own 404 JSON, with a numeric statusCode outside /bucket and /object.
func (h *Handler) notRouted(c *fiber.Ctx) error {
	setCommon(c)
	return rest.RouteNotFound(c)
}

func (h *Handler) notFound(c *fiber.Ctx) error {
	setCommon(c)
	return writeError(c, h.opts.Logger, protocol(404, "Not found"))
}

// wrap authenticates, checks the protocol headers and renders errors as TUS does. A
// failed JWT is returned to the app's error handler (the REST envelope, as the reference's
// auth runs before its TUS handler); everything after is plain text.
func (h *Handler) wrap(signed bool, fn func(*fiber.Ctx, request) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		setCommon(c)
		req := request{signed: signed}
		if !signed {
			p, err := h.principal(c)
			if err != nil {
				return err
			}
			req.caller = h.caller(c, p, signed)
			req.upsert = c.Get("x-upsert") == "true"
		}
		if err := checkHeaders(c); err != nil {
			return writeError(c, h.opts.Logger, err)
		}
		if signed {
			token := c.Get("x-signature")
			if token == "" {
				return writeError(c, h.opts.Logger, protocol(400, "Missing x-signature header"))
			}
			claims, err := h.opts.Verifier.Claims(token)
			if err != nil {
				return writeError(c, h.opts.Logger, protocol(400, auth.Message(err)))
			}
			if !auth.ScopeAllows(claims, "upload") {
				return writeError(c, h.opts.Logger, protocol(400, "Token is not scoped for upload"))
			}
			// Signed uploads run as the service role with the token's owner (no RLS).
			req.caller = h.caller(c, h.engine.ServiceCaller("").Principal, signed)
			req.caller.Sub, _ = claims["owner"].(string)
			req.claims = claims
			req.upsert, _ = claims["upsert"].(bool)
		}
		if err := fn(c, req); err != nil {
			return writeError(c, h.opts.Logger, err)
		}
		return nil
	}
}

// checkSignedPath enforces that a signed token names the upload's bucket/key.
func checkSignedPath(req request, bucket, key string) error {
	if !req.signed {
		return nil
	}
	if u, _ := req.claims["url"].(string); u != bucket+"/"+key {
		return protocol(400, "Invalid signature")
	}
	return nil
}

// checkHeaders validates the protocol headers of a non-OPTIONS request (tus.md §2).
func checkHeaders(c *fiber.Ctx) error {
	switch v := c.Get("Tus-Resumable"); {
	case v == "":
		return protocol(412, "Tus-Resumable Required")
	case v != Version:
		return protocol(400, "Invalid tus-resumable")
	}
	for _, name := range []string{"Upload-Offset", "Upload-Length"} {
		if _, err := intHeader(c, name); err != nil {
			return err
		}
	}
	if v := c.Get("Upload-Defer-Length"); v != "" && v != "1" {
		return protocol(400, "Invalid upload-defer-length")
	}
	if v := c.Get("X-Forwarded-Proto"); v != "" && v != "http" && v != "https" {
		return protocol(400, "Invalid x-forwarded-proto")
	}
	if _, ok := parseMetadata(c.Get("Upload-Metadata")); !ok {
		return protocol(400, "Upload-Metadata is invalid. It MUST consist of one or more comma-separated key-value pairs. The key and value MUST be separated by a space. The key MUST NOT contain spaces and commas and MUST NOT be empty. The key SHOULD be ASCII encoded and the value MUST be Base64 encoded. All keys MUST be unique")
	}
	return nil
}

// principal verifies the bearer token (Authorization, else apikey, as the REST dialect).
func (h *Handler) principal(c *fiber.Ctx) (auth.Principal, error) {
	token := rest.RequestToken(c)
	if token == "" {
		return auth.Principal{}, &gateway.Error{Code: gateway.CodeForbidden, Message: "Invalid Compact JWS"}
	}
	p, err := h.opts.Verifier.Verify(token)
	if err != nil {
		return auth.Principal{}, &gateway.Error{Code: gateway.CodeForbidden, Message: auth.Message(err), Err: err}
	}
	return p, nil
}

// caller is the engine's view of the request for RLS policies, built as the REST routes
// build it, with the TUS operation names.
func (h *Handler) caller(c *fiber.Ctx, p auth.Principal, signed bool) gateway.Caller {
	op := map[string]string{fiber.MethodPost: "storage.tus.upload.create", fiber.MethodPatch: "storage.tus.upload.part",
		fiber.MethodHead: "storage.tus.upload.get", fiber.MethodDelete: "storage.tus.upload.delete"}[c.Method()]
	if signed {
		op += "_signed"
	}
	return rest.NewCaller(c, p, op)
}

// bodyStream is a request body and its declared size (-1 unknown).
type bodyStream struct {
	r    io.Reader
	size int64
}

func (b *bodyStream) reader() io.Reader {
	if b == nil || b.r == nil {
		return nil
	}
	return b.r
}

// body returns the request body stream and its declared size (-1 unknown), or nil when
// the request has none. PATCH and creation-with-upload bodies must be
// application/offset+octet-stream.
func body(c *fiber.Ctx, required bool) (*bodyStream, error) {
	ct := c.Get(fiber.HeaderContentType)
	if ct == "" {
		if required {
			return nil, protocol(403, "Content-Type header required")
		}
		return nil, nil
	}
	if ct != "application/offset+octet-stream" {
		return nil, protocol(400, "Invalid content-type")
	}
	size := int64(c.Request().Header.ContentLength())
	if size < -1 {
		size = 0
	}
	s := c.Context().RequestBodyStream()
	if s == nil || size == 0 {
		return &bodyStream{size: 0}, nil
	}
	return &bodyStream{r: s, size: size}, nil
}

// create serves POST: a new upload (and its first bytes with creation-with-upload).
func (h *Handler) create(c *fiber.Ctx, req request) error {
	length, _ := intHeader(c, "Upload-Length")
	deferred := c.Get("Upload-Defer-Length") == "1"
	if (length < 0) == !deferred {
		return protocol(400, "Upload-Length or Upload-Defer-Length header required")
	}
	if c.Get("Upload-Concat") != "" {
		return protocol(501, "Concatenation extension is not (yet) supported. Disable parallel uploads in the tus client.")
	}
	raw := c.Get("Upload-Metadata")
	if raw == "" {
		return protocol(400, "Metadata header is required")
	}
	pairs, _ := parseMetadata(raw)
	meta := readMetadata(pairs)
	if err := checkSignedPath(req, meta.bucket, meta.key); err != nil {
		return err
	}
	b, err := body(c, false)
	if err != nil {
		return err
	}
	in := gateway.TusCreate{Bucket: meta.bucket, Key: meta.key, Length: length, ContentType: meta.contentType,
		CacheControl: meta.cacheControl, UserMetadata: meta.userMetadata, Metadata: meta.stored,
		Upsert: req.upsert, Expiry: h.opts.Expiry}
	if b != nil {
		in.Body, in.BodySize = b.reader(), b.size
	}
	up, err := h.engine.TusCreate(c.UserContext(), req.caller, in)
	if up.Version == "" {
		return err
	}
	// Created (even if the first bytes failed): the client resumes at Location.
	c.Set(fiber.HeaderLocation, h.location(c, uploadURLID(up.Bucket, up.Key, up.Version), req.signed))
	if err != nil {
		return err
	}
	if b != nil {
		c.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
	}
	setProgress(c, up)
	setVersionID(c, up)
	return c.SendStatus(fiber.StatusCreated)
}

// setProgress adds Tus-Complete or Upload-Expires.
func setProgress(c *fiber.Ctx, up gateway.TusUpload) {
	if up.Completed {
		c.Set("Tus-Complete", "1")
		return
	}
	c.Set("Upload-Expires", up.Expires.UTC().Format(http.TimeFormat))
}

// setVersionID adds x-amz-version-id (as S3's PutObject) to the answer of the request that
// completed an upload into a versioned bucket; never-versioned buckets answer as before.
func setVersionID(c *fiber.Ctx, up gateway.TusUpload) {
	if up.VersionID != "" {
		c.Set("x-amz-version-id", up.VersionID)
	}
}

// target reads the upload named by the URL.
func target(c *fiber.Ctx, req request) (bucket, key, version string, err error) {
	bucket, key, version, ok := parseURLID(c.Params("id"))
	if !ok {
		return "", "", "", protocol(404, "The file for this url was not found")
	}
	return bucket, key, version, checkSignedPath(req, bucket, key)
}

// head serves HEAD: the upload's offset, length and metadata.
func (h *Handler) head(c *fiber.Ctx, req request) error {
	bucket, key, version, err := target(c, req)
	if err != nil {
		return err
	}
	up, err := h.engine.TusHead(c.UserContext(), req.caller, bucket, key, version)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
	if up.Length >= 0 {
		c.Set("Upload-Length", strconv.FormatInt(up.Length, 10))
	} else {
		c.Set("Upload-Defer-Length", "1")
	}
	if up.Metadata != "" {
		c.Set("Upload-Metadata", up.Metadata)
	}
	return c.SendStatus(fiber.StatusOK)
}

// patch serves PATCH: the chunk is appended at Upload-Offset.
func (h *Handler) patch(c *fiber.Ctx, req request) error {
	bucket, key, version, err := target(c, req)
	if err != nil {
		return err
	}
	offset, _ := intHeader(c, "Upload-Offset")
	if offset < 0 {
		return protocol(403, "Upload-Offset header required")
	}
	b, err := body(c, true)
	if err != nil {
		return err
	}
	length, _ := intHeader(c, "Upload-Length")
	up, err := h.engine.TusPatch(c.UserContext(), req.caller, gateway.TusPatch{Bucket: bucket, Key: key, Version: version,
		Offset: offset, Length: length, Body: b.reader(), Size: b.size, Upsert: req.upsert})
	if err != nil {
		return err
	}
	c.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
	setProgress(c, up)
	setVersionID(c, up)
	return c.SendStatus(fiber.StatusNoContent)
}

// terminate serves DELETE: the unfinished upload and its bytes go.
func (h *Handler) terminate(c *fiber.Ctx, req request) error {
	bucket, key, version, err := target(c, req)
	if err != nil {
		return err
	}
	if err := h.engine.TusTerminate(c.UserContext(), req.caller, bucket, key, version, req.upsert); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
