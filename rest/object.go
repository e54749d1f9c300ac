package rest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// upload serves POST (create; x-upsert: true overwrites) and PUT (always upsert) of a raw
// body. The body stays a stream from the socket to the store.
func (h *Handler) upload(alwaysUpsert bool) fiber.Handler {
	op := "storage.object.upload"
	if alwaysUpsert {
		op = "storage.object.upload_update"
	}
	return func(c *fiber.Ctx) error {
		p, _, err := h.principal(c, accessRequired)
		if err != nil {
			return err
		}
		bucket, key, err := objectPath(c)
		if err != nil {
			return err
		}
		size := int64(c.Request().Header.ContentLength())
		if size < 0 {
			size = -1 // chunked: unknown until the end
		}
		var body io.Reader
		if s := c.Context().RequestBodyStream(); s != nil && size != 0 {
			body = s
		}
		in := gateway.PutObject{Bucket: bucket, Key: key, Body: body, Size: size,
			ContentType: c.Get(fiber.HeaderContentType), CacheControl: c.Get(fiber.HeaderCacheControl),
			UserMetadata: userMetadataHeader(c.Get("x-metadata")), XRobotsTag: c.Get("x-robots-tag"),
			Upsert: alwaysUpsert || c.Get("x-upsert") == "true", Limit: h.opts.StandardLimit}
		obj, err := h.engine.PutObject(c.UserContext(), h.caller(c, p, op), in)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"Key": bucket + "/" + key, "Id": obj.ID})
	}
}

// userMetadataHeader decodes x-metadata (base64 of a JSON object); invalid values are
// ignored as the reference does, and REST uploads without metadata store {}.
func userMetadataHeader(v string) json.RawMessage {
	if v != "" {
		if raw, err := base64.StdEncoding.DecodeString(v); err == nil && json.Valid(raw) && strings.HasPrefix(strings.TrimSpace(string(raw)), "{") {
			return raw
		}
	}
	return json.RawMessage(`{}`)
}

// download serves GET and HEAD of the three access classes.
func (h *Handler) download(class access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, authed, err := h.principal(c, class)
		if err != nil {
			return err
		}
		bucket, key, err := objectPath(c)
		if err != nil {
			return err
		}
		op := "storage.object.get_authenticated"
		if class == accessPublic {
			op = "storage.object.get_public"
		}
		caller := h.caller(c, p, op)
		// Public buckets are served without RLS; otherwise the object is looked up under
		// the caller's role (anon without a token sees only public buckets).
		b, err := h.engine.GetBucketAsService(c.UserContext(), caller, bucket)
		if err != nil {
			return err
		}
		asService := b.Public
		if !b.Public && (class == accessPublic || (class == accessOptional && !authed)) {
			return &gateway.Error{Code: gateway.CodeNoSuchBucket, Bucket: bucket}
		}
		if c.Method() == fiber.MethodHead {
			obj, err := h.engine.HeadObject(c.UserContext(), caller, bucket, key, asService)
			if err != nil {
				return err
			}
			writeObjectHeaders(c, obj)
			c.Set(fiber.HeaderContentLength, strconv.FormatInt(obj.Size, 10))
			return nil
		}
		ctx, cancel := context.WithCancel(context.WithoutCancel(c.UserContext()))
		r, err := h.engine.GetObject(ctx, caller, gateway.GetObject{Bucket: bucket, Key: key, Range: c.Get(fiber.HeaderRange), AsService: asService})
		if err != nil {
			cancel()
			return err
		}
		writeObjectHeaders(c, r.Object)
		if notModified(c, r.Object) {
			r.Body.Close()
			cancel()
			return c.SendStatus(http.StatusNotModified)
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
		return c.SendStream(releaseOnClose{ReadCloser: r.Body, release: cancel}, int(length))
	}
}

func writeObjectHeaders(c *fiber.Ctx, o gateway.Object) {
	ct := o.ContentType
	// Served as plain text so a stored page cannot run script in the storage origin.
	if strings.Contains(ct, "text/html") {
		ct = "text/plain"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderETag, o.ETag)
	c.Set(fiber.HeaderLastModified, o.LastModified.UTC().Format(http.TimeFormat))
	c.Set(fiber.HeaderCacheControl, o.CacheControl)
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	robots := o.XRobotsTag
	if robots == "" {
		robots = "none"
	}
	c.Set("X-Robots-Tag", robots)
	if strings.Contains(o.ContentType, "svg") {
		c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	}
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

// contentDisposition renders ?download[=name] as the reference does.
func contentDisposition(name string) string {
	if name == "" {
		return "attachment;"
	}
	enc := strings.ReplaceAll(url.QueryEscape(name), "+", "%20")
	return "attachment; filename=" + enc + "; filename*=UTF-8''" + enc
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

func (h *Handler) deleteObject(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	bucket, key, err := objectPath(c)
	if err != nil {
		return err
	}
	if _, err := h.engine.DeleteObject(c.UserContext(), h.caller(c, p, "storage.object.delete"), bucket, key); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"message": "Successfully deleted"})
}
