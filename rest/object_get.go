package rest

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
)

// pathParam returns a route parameter percent-decoded once.
func pathParam(c *fiber.Ctx, name string) (string, error) {
	v, err := url.PathUnescape(c.Params(name))
	if err != nil {
		return "", &gateway.Error{Code: gateway.CodeInvalidBucketName, Message: "Bucket name invalid"}
	}
	return v, nil
}

// readAccess decides how an object of bucket is read for an access class: public buckets
// without RLS, private ones under the caller's role, and not at all for anonymous callers
// of private buckets. The engine applies the rule (gateway.PublicRule) with the bucket's
// row read in the object read's round trip.
func (h *Handler) readAccess(c *fiber.Ctx, class access) (caller gateway.Caller, in gateway.GetObject, err error) {
	p, authed, err := h.principal(c, class)
	if err != nil {
		return caller, in, err
	}
	if in.Bucket, in.Key, err = objectPath(c); err != nil {
		return caller, in, err
	}
	op := "storage.object.get_authenticated"
	if class == accessPublic {
		op = "storage.object.get_public"
	}
	caller = h.caller(c, p, op)
	in.Public = gateway.PublicRead
	if class == accessPublic || (class == accessOptional && !authed) {
		in.Public = gateway.PublicOnly
	}
	return caller, in, nil
}

// bucketAccess reads bucket as the service and applies the public-bucket rule of the
// access classes: a public bucket's objects are read without RLS (asService); a private
// one is not found for the public class and for unauthenticated optional callers.
func (h *Handler) bucketAccess(c *fiber.Ctx, caller gateway.Caller, class access, authed bool, bucket string) (asService bool, err error) {
	b, err := h.engine.GetBucketAsService(c.UserContext(), caller, bucket)
	if err != nil {
		return false, err
	}
	if !b.Public && (class == accessPublic || (class == accessOptional && !authed)) {
		return false, &gateway.Error{Code: gateway.CodeNoSuchBucket, Bucket: bucket}
	}
	return b.Public, nil
}

// BucketAccess applies the download routes' public-bucket rule for routes served beside
// the REST ones (rest/render), with AccessRequired or AccessPublic: it reports whether
// bucket's objects are read without RLS, and answers NoSuchBucket for a private bucket
// on the public class.
func (h *Handler) BucketAccess(c *fiber.Ctx, caller gateway.Caller, class Access, bucket string) (asService bool, err error) {
	return h.bucketAccess(c, caller, class, class != accessPublic, bucket)
}

// download serves GET and HEAD of the three access classes.
func (h *Handler) download(class access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		caller, in, err := h.readAccess(c, class)
		if err != nil {
			return err
		}
		return h.serveObject(c, caller, in, time.Time{})
	}
}

// serveObject writes an object's bytes (GET) or headers (HEAD). expires is set for signed
// URLs: they send Expires instead of Cache-Control.
func (h *Handler) serveObject(c *fiber.Ctx, caller gateway.Caller, in gateway.GetObject, expires time.Time) error {
	if c.Method() == fiber.MethodHead {
		r, err := h.engine.StatObject(c.UserContext(), caller, in)
		if err != nil {
			return err
		}
		obj := r.Object
		h.writeObjectHeaders(c, obj, expires)
		c.Response().SkipBody = true
		c.Response().Header.SetContentLength(int(obj.Size))
		return nil
	}
	// A conditional GET is answered from the row when it can be a 304: opening the bytes
	// first would start (and abort) an upstream download on the s3 store for nothing.
	if c.Get(fiber.HeaderIfNoneMatch) != "" || c.Get(fiber.HeaderIfModifiedSince) != "" {
		r, err := h.engine.StatObject(c.UserContext(), caller, in)
		if err != nil {
			return err
		}
		obj := r.Object
		if notModified(c, obj) {
			h.writeObjectHeaders(c, obj, expires)
			c.Status(http.StatusNotModified)
			c.Response().SkipBody = true
			return nil
		}
	}
	in.Range = c.Get(fiber.HeaderRange)
	// A small body is read into a pooled buffer and copied into the response: sent with the
	// headers in one write, no stream to close afterwards.
	buf := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(buf)
	in.Buffer = (*buf)[:0]
	// A larger body is written after the handler returns: its context must outlive the
	// handler and is released when fasthttp closes the stream.
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.UserContext()))
	r, err := h.engine.GetObject(ctx, caller, in)
	if err != nil {
		cancel()
		return err
	}
	h.writeObjectHeaders(c, r.Object, expires)
	if notModified(c, r.Object) {
		if r.Body != nil {
			r.Body.Close()
		}
		cancel()
		c.Status(http.StatusNotModified)
		c.Response().SkipBody = true
		return nil
	}
	if args := c.Request().URI().QueryArgs(); args.Has("download") {
		c.Set(fiber.HeaderContentDisposition, contentDisposition(string(args.Peek("download"))))
	}
	length := r.Size
	if r.Partial {
		c.Status(http.StatusPartialContent)
		c.Set(fiber.HeaderContentRange, "bytes "+strconv.FormatInt(r.Range.Start, 10)+"-"+strconv.FormatInt(r.Range.End, 10)+"/"+strconv.FormatInt(r.Size, 10))
		length = r.Range.Length()
	}
	if r.Body == nil {
		cancel()
		c.Response().SetBody(r.Data)
		return nil
	}
	return c.SendStream(releaseOnClose{ReadCloser: r.Body, release: cancel}, int(length))
}

// bodyBuffers hold bodies of up to 64 KiB between the store and the response
// (gateway.GetObject.Buffer).
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// writeObjectHeaders sets the download headers (rest-api.md §3.2). Stored HTML is served as
// text/plain and SVG with a sandboxing CSP, so neither can run script in the storage origin.
func (h *Handler) writeObjectHeaders(c *fiber.Ctx, o gateway.Object, expires time.Time) {
	ct := o.ContentType
	if strings.Contains(strings.ToLower(ct), "text/html") {
		ct = "text/plain"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderETag, o.ETag)
	c.Set(fiber.HeaderLastModified, o.LastModified.UTC().Format(http.TimeFormat))
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	robots := o.XRobotsTag
	if robots == "" {
		robots = "none"
	}
	c.Set("X-Robots-Tag", robots)
	if strings.Contains(strings.ToLower(o.ContentType), "svg") {
		c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	}
	if !expires.IsZero() {
		c.Set(fiber.HeaderExpires, expires.UTC().Format(http.TimeFormat))
		return
	}
	c.Set(fiber.HeaderCacheControl, h.cacheControl(c, o))
}

// cacheControl decorates the stored Cache-Control as the reference does for conditional
// requests: a mismatching If-None-Match adds stale-while-revalidate (GET) or
// must-revalidate (HEAD); any If-None-Match adds s-maxage when RESPONSE_S_MAXAGE is set.
func (h *Handler) cacheControl(c *fiber.Ctx, o gateway.Object) string {
	cc := o.CacheControl
	if cc == "" {
		cc = gateway.DefaultCacheControl
	}
	inm := c.Get(fiber.HeaderIfNoneMatch)
	if inm == "" {
		return cc
	}
	if inm != o.ETag {
		if c.Method() == fiber.MethodHead {
			cc += ", must-revalidate"
		} else {
			cc += ", stale-while-revalidate=30"
		}
	}
	if h.opts.SMaxAge > 0 && (inm == o.ETag || c.Method() != fiber.MethodHead) {
		cc += ", s-maxage=" + strconv.Itoa(h.opts.SMaxAge)
	}
	return cc
}

func notModified(c *fiber.Ctx, o gateway.Object) bool {
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" {
		return inm == o.ETag
	}
	if ims := c.Get(fiber.HeaderIfModifiedSince); ims != "" {
		if t, err := http.ParseTime(ims); err == nil {
			return !o.LastModified.Truncate(time.Second).After(t)
		}
	}
	return false
}

// contentDisposition renders ?download[=name] as the reference does: the name
// percent-encoded with encodeURIComponent semantics.
func contentDisposition(name string) string {
	if name == "" {
		return "attachment;"
	}
	enc := encodeURIComponent(name)
	return "attachment; filename=" + enc + "; filename*=UTF-8''" + enc
}

// encodeURIComponent escapes everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ), as JavaScript does.
func encodeURIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("-_.!~*'()", ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
	return b.String()
}

// releaseOnClose releases the request's upstream resources when fasthttp closes the stream
// after writing the response, not when the handler returns.
type releaseOnClose struct {
	io.ReadCloser
	release context.CancelFunc
}

func (r releaseOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.release()
	return err
}

// infoJSON is GET /object/info's shape (rest-api.md §3.4).
type infoJSON struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Version      string  `json:"version"`
	BucketID     string  `json:"bucket_id"`
	Size         int64   `json:"size"`
	ContentType  *string `json:"content_type"`
	CacheControl *string `json:"cache_control"`
	ETag         *string `json:"etag"`
	Metadata     any     `json:"metadata"`
	LastModified string  `json:"last_modified"`
	CreatedAt    string  `json:"created_at"`
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// info serves GET/HEAD /object/info[/authenticated|/public]/{bucket}/{key}.
func (h *Handler) info(class access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		caller, in, err := h.readAccess(c, class)
		if err != nil {
			return err
		}
		caller.Operation = "storage.object.info"
		r, err := h.engine.StatObject(c.UserContext(), caller, in)
		if err != nil {
			return err
		}
		o := r.Object
		c.Set(fiber.HeaderETag, o.ETag)
		c.Set(fiber.HeaderLastModified, o.LastModified.UTC().Format(http.TimeFormat))
		c.Set(fiber.HeaderCacheControl, o.CacheControl)
		var meta any = o.UserMetadata
		if len(o.UserMetadata) == 0 {
			meta = nil
		}
		return sendJSON(c, infoJSON{ID: o.ID, Name: o.Key, Version: o.Version, BucketID: o.Bucket, Size: o.Size,
			ContentType: strOrNil(o.ContentType), CacheControl: strOrNil(o.CacheControl), ETag: strOrNil(o.ETag),
			Metadata: meta, LastModified: isoTime(o.UpdatedAt), CreatedAt: isoTime(o.CreatedAt)})
	}
}

// health answers {"healthy": bool} after a one-row bucket query as the caller.
func (h *Handler) health(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequiredNoSchema)
	if err != nil {
		return err
	}
	_, err = h.engine.ListBuckets(c.UserContext(), h.caller(c, p, "storage.health"), gateway.ListBuckets{Limit: 1})
	return sendJSON(c, fiber.Map{"healthy": err == nil})
}

// signed-token helpers shared by signed downloads and uploads.

// verifyURLToken checks a signed-URL token for bucket/key and scope (download or upload)
// and returns its claims (auth-and-config.md §2.1).
func (h *Handler) verifyURLToken(token, bucket, key, scope string) (map[string]any, error) {
	if token == "" {
		return nil, validationError("querystring must have required property 'token'")
	}
	claims, err := h.opts.Verifier.Claims(token)
	if err != nil {
		return nil, invalidJWT(auth.Message(err))
	}
	if !auth.ScopeAllows(claims, scope) {
		return nil, invalidSignature("Token is not scoped for " + scope)
	}
	if u, _ := claims["url"].(string); u != bucket+"/"+key {
		return nil, invalidSignature("Invalid signature")
	}
	return claims, nil
}
