// Package render serves image transformations at /render/image (rest-api.md §7): the
// authenticated, public and signed routes, with the REST dialect's auth, RLS and
// public-bucket rules. Images are rendered in process by libvips (cgo builds) or by an
// imgproxy server (IMGPROXY_URL); variants are cached on disk by object version.
package render

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/rest"
)

// HandlerOptions configure the render routes.
type HandlerOptions struct {
	// REST is the REST dialect: the render routes read identities, build RLS callers and
	// verify signed URL tokens exactly as it does.
	REST   *rest.Handler
	Logger *slog.Logger
}

// Handler serves /render/image over one engine and one Renderer.
type Handler struct {
	engine   *gateway.Engine
	renderer *Renderer
	opts     HandlerOptions
}

// NewHandler returns the render routes' handler.
func NewHandler(e *gateway.Engine, r *Renderer, opts HandlerOptions) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{engine: e, renderer: r, opts: opts}
}

// Register mounts the routes on r (the root and /storage/v1 both use it). fiber adds HEAD
// for each GET.
func (h *Handler) Register(r fiber.Router) {
	r.Get("/render/image/authenticated/:bucket/*", writeErrors(h.opts.Logger, h.serve(accessRequired)))
	r.Get("/render/image/public/:bucket/*", writeErrors(h.opts.Logger, h.serve(accessPublic)))
	r.Get("/render/image/sign/:bucket/*", writeErrors(h.opts.Logger, h.serveSigned))
	// The reference's answer: its URL as the reference sees it (query kept, /storage/v1 not).
	notFound := writeErrors(h.opts.Logger, rest.RouteNotFound)
	r.All("/render/image", notFound)
	r.All("/render/image/*", notFound)
}

// The access classes of the render routes.
const (
	accessRequired = rest.AccessRequired // a valid JWT is mandatory; RLS decides unless the bucket is public
	accessPublic   = rest.AccessPublic   // no JWT read; the bucket must be public
)

// serve answers the authenticated and public routes.
func (h *Handler) serve(class rest.Access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !h.renderer.Enabled() {
			return ErrNotEnabled
		}
		p, err := h.opts.REST.Principal(c, class)
		if err != nil {
			return err
		}
		bucket, key, err := rest.ObjectPath(c)
		if err != nil {
			return err
		}
		q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
		o, err := ParseQuery(q, h.renderer.Limits())
		if err != nil {
			return err
		}
		op := "storage.render.image_authenticated"
		if class == accessPublic {
			op = "storage.render.image_public"
		}
		caller := h.opts.REST.Caller(c, p, op)
		asService, err := h.opts.REST.BucketAccess(c, caller, class, bucket)
		if err != nil {
			return err
		}
		return h.respond(c, caller, bucket, key, asService, o, time.Time{})
	}
}

// serveSigned answers /render/image/sign: the token names the object and carries the
// transformations; query options cannot change them.
func (h *Handler) serveSigned(c *fiber.Ctx) error {
	if !h.renderer.Enabled() {
		return ErrNotEnabled
	}
	bucket, key, err := rest.ObjectPath(c)
	if err != nil {
		return err
	}
	claims, err := h.opts.REST.VerifyDownloadToken(c.Query("token"), bucket, key)
	if err != nil {
		return err
	}
	transformations, _ := claims["transformations"].(string)
	format, _ := claims["format"].(string)
	o, err := ParseClaims(transformations, format, h.renderer.Limits())
	if err != nil {
		return err
	}
	expires := time.Unix(1, 0)
	if exp, ok := claims["exp"].(float64); ok {
		expires = time.Unix(int64(exp), 0)
	}
	// The token is the authorisation: the object is read without RLS, whatever the bucket.
	caller := h.engine.ServiceCaller("storage.render.image_sign")
	caller.Method, caller.Path = c.Method(), c.OriginalURL()
	return h.respond(c, caller, bucket, key, true, o, expires)
}

// respond renders (or finds) the variant and writes it. A non-zero expires marks a
// signed URL: Expires instead of Cache-Control, as the reference sends.
func (h *Handler) respond(c *fiber.Ctx, caller gateway.Caller, bucket, key string, asService bool, o Options, expires time.Time) error {
	ctx := c.UserContext()
	obj, err := h.engine.HeadObject(ctx, caller, bucket, key, asService)
	if err != nil {
		return err
	}
	target, vary := h.renderer.Target(o, c.Get(fiber.HeaderAccept))
	etag := h.renderer.ETag(obj, o, target)
	h.writeHeaders(c, obj, o, etag, vary, expires)
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		return c.SendStatus(http.StatusNotModified)
	}
	open := func(ctx context.Context) (gateway.ObjectReader, error) {
		return h.engine.GetObject(ctx, caller, gateway.GetObject{Bucket: bucket, Key: key, AsService: asService})
	}
	// Rendering outlives a client hang-up (the slot and cache entry are worth finishing).
	v, err := h.renderer.Render(context.WithoutCancel(ctx), obj, o, target, open)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, v.ETag)
	c.Set(fiber.HeaderContentType, v.ContentType)
	if v.Cached {
		c.Set("X-Render-Cache", "hit")
	} else {
		c.Set("X-Render-Cache", "miss")
	}
	if c.Method() == fiber.MethodHead {
		v.Body.Close()
		c.Set(fiber.HeaderContentLength, strconv.FormatInt(v.Size, 10))
		return nil
	}
	return c.SendStream(v.Body, int(v.Size))
}

func (h *Handler) writeHeaders(c *fiber.Ctx, obj gateway.Object, o Options, etag string, vary bool, expires time.Time) {
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderLastModified, obj.LastModified.UTC().Format(http.TimeFormat))
	if expires.IsZero() {
		cc := obj.CacheControl
		if cc == "" {
			cc = "no-cache"
		}
		c.Set(fiber.HeaderCacheControl, cc)
	} else {
		c.Set(fiber.HeaderExpires, expires.UTC().Format(http.TimeFormat))
	}
	if vary {
		c.Set(fiber.HeaderVary, fiber.HeaderAccept)
	}
	c.Set("X-Transformations", strings.Join(o.imgproxySegments(), ","))
	c.Set("X-Robots-Tag", "none")
	if args := c.Request().URI().QueryArgs(); args.Has("download") {
		c.Set(fiber.HeaderContentDisposition, rest.ContentDisposition(string(args.Peek("download"))))
	}
}

// SignTransform returns rest.Options.SignTransform: it reads POST /object/sign's transform
// object into the token's transformations and format claims (rest-api.md §4.1), empty
// when transform asks for nothing but the defaults.
func SignTransform(l Limits) func(json.RawMessage) (transformations, format string, err error) {
	return func(raw json.RawMessage) (string, string, error) {
		var t Transform
		if err := json.Unmarshal(raw, &t); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				want := "number"
				if te.Type.Kind() == reflect.String {
					want = "string"
				}
				return "", "", restError(validation("body/transform/" + te.Field + " must be " + want))
			}
			return "", "", restError(validation("body/transform must be object"))
		}
		o, err := ParseTransform(t, l)
		if err != nil {
			return "", "", restError(err)
		}
		if o.Empty() {
			return "", "", nil
		}
		transformations, format := o.Claims()
		return transformations, format, nil
	}
}
