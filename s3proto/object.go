package s3proto

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/multipart"
)

// putObject stores the body as bucket/key (always an upsert, as S3). The body stays a
// stream, checked against the signature, Content-MD5 and checksum while it flows; the engine
// commits only after it ended cleanly.
func (h *Handler) putObject(c *fiber.Ctx, req *request) error {
	if err := h.checkObjectACL(c, req); err != nil {
		return err
	}
	body, size, err := h.body(c, req)
	if err != nil {
		return err
	}
	in, err := putInput(c, req)
	if err != nil {
		return err
	}
	in.Body, in.Size, in.Limit = body, size, h.opts.StandardLimit
	if size == 0 && !req.sig.Payload.Streaming() {
		// An aws-chunked body still holds a signed final chunk (and maybe trailers): the
		// engine reads it to its end, which checks them.
		in.Body = nil
	}
	// A folder marker: the dashboard's placeholder convention (spec §1).
	if strings.HasSuffix(in.Key, "/") && size == 0 {
		in.Key += ".emptyFolderPlaceholder"
	}
	obj, err := h.engine.PutObject(c.UserContext(), h.caller(c, req), in)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, obj.ETag)
	writeChecksum(c, obj.Extra)
	return empty200(c)
}

// putInput reads the headers of a PutObject.
func putInput(c *fiber.Ctx, req *request) (gateway.PutObject, error) {
	meta, err := userMetadata(c)
	if err != nil {
		return gateway.PutObject{}, err
	}
	tags, err := taggingHeader(c.Get("x-amz-tagging"))
	if err != nil {
		return gateway.PutObject{}, err
	}
	integ, err := integrity(c)
	if err != nil {
		return gateway.PutObject{}, err
	}
	extra := extraHeaders(c)
	extra.Tags = tags
	return gateway.PutObject{Bucket: req.bucket, Key: req.key, ContentType: c.Get(fiber.HeaderContentType),
		CacheControl: c.Get(fiber.HeaderCacheControl), UserMetadata: meta, XRobotsTag: c.Get("x-robots-tag"),
		Upsert: true, Extra: extra, Integrity: integ}, nil
}

// getObject streams an object (or one range of it). The upstream read is released when
// fasthttp closes the stream after writing it, not when this handler returns.
func (h *Handler) getObject(c *fiber.Ctx, req *request) error {
	if err := checkPartNumber(req); err != nil {
		return err
	}
	overrides, err := responseOverrides(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), h.opts.DownloadTimeout)
	r, err := h.engine.GetObject(ctx, h.caller(c, req), gateway.GetObject{Bucket: req.bucket, Key: req.key,
		Range: c.Get(fiber.HeaderRange), S3Range: true, Conditions: conditions(c, "")})
	if err != nil {
		cancel()
		if gateway.CodeOf(err) == gateway.CodeNotModified {
			writeObjectHeaders(c, r.Object, false)
		}
		return err
	}
	writeObjectHeaders(c, r.Object, c.Get("x-amz-checksum-mode") == "ENABLED" && !r.Partial)
	overrides.apply(c)
	length := r.Size
	if r.Partial {
		c.Status(http.StatusPartialContent)
		c.Set(fiber.HeaderContentRange, contentRange(r.Range, r.Size))
		length = r.Range.Length()
	}
	return c.SendStream(releaseOnClose{ReadCloser: r.Body, release: cancel}, int(length))
}

// headObject answers an object's headers from its row; Range and conditions apply as for GET.
func (h *Handler) headObject(c *fiber.Ctx, req *request) error {
	if err := checkPartNumber(req); err != nil {
		return err
	}
	overrides, err := responseOverrides(req)
	if err != nil {
		return err
	}
	r, err := h.engine.StatObject(c.UserContext(), h.caller(c, req), gateway.GetObject{Bucket: req.bucket, Key: req.key,
		Range: c.Get(fiber.HeaderRange), S3Range: true, Conditions: conditions(c, "")})
	if err != nil {
		if gateway.CodeOf(err) == gateway.CodeNotModified {
			writeObjectHeaders(c, r.Object, false)
		}
		return err
	}
	writeObjectHeaders(c, r.Object, c.Get("x-amz-checksum-mode") == "ENABLED" && !r.Partial)
	overrides.apply(c)
	length := r.Size
	if r.Partial {
		c.Status(http.StatusPartialContent)
		c.Set(fiber.HeaderContentRange, contentRange(r.Range, r.Size))
		length = r.Range.Length()
	}
	c.Response().Header.SetContentLength(int(length))
	c.Response().SkipBody = true
	return nil
}

// deleteObject removes an object: 204 whether or not it existed (S3 is idempotent here),
// NoSuchBucket for a missing bucket, AccessDenied when RLS refused an existing object.
func (h *Handler) deleteObject(c *fiber.Ctx, req *request) error {
	r, err := h.engine.DeleteObjectsReport(c.UserContext(), h.caller(c, req), req.bucket, []string{req.key})
	if err != nil {
		return err
	}
	if len(r.Refused) > 0 {
		return &gateway.Error{Code: gateway.CodeForbidden, Bucket: req.bucket, Key: req.key, Message: "Access denied"}
	}
	return noContent(c)
}

// checkPartNumber accepts partNumber=1 (a single-part object is its only part).
func checkPartNumber(req *request) error {
	if !req.query.Has("partNumber") {
		return nil
	}
	n, err := multipart.ParsePartNumber(req.query.Get("partNumber"))
	switch {
	case err != nil:
		return errBadPartNumber
	case n != 1:
		return errInvalidPartNum
	}
	return nil
}

func contentRange(r gateway.ByteRange, size int64) string {
	return "bytes " + strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.End, 10) + "/" + strconv.FormatInt(size, 10)
}

// writeObjectHeaders sets the headers of GET and HEAD answers.
func writeObjectHeaders(c *fiber.Ctx, o gateway.Object, withChecksum bool) {
	set := func(name, v string) {
		if v != "" {
			c.Set(name, v)
		}
	}
	set(fiber.HeaderETag, o.ETag)
	c.Set(fiber.HeaderLastModified, o.LastModified.UTC().Format(http.TimeFormat))
	set(fiber.HeaderContentType, o.ContentType)
	set(fiber.HeaderCacheControl, o.CacheControl)
	set(fiber.HeaderContentDisposition, o.Extra.ContentDisposition)
	set(fiber.HeaderContentEncoding, o.Extra.ContentEncoding)
	set(fiber.HeaderContentLanguage, o.Extra.ContentLanguage)
	set(fiber.HeaderExpires, o.Extra.Expires)
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	if len(o.Extra.Tags) > 0 {
		c.Set("x-amz-tagging-count", strconv.Itoa(len(o.Extra.Tags)))
	}
	writeUserMetadata(c, o.UserMetadata)
	if withChecksum {
		writeChecksum(c, o.Extra)
	}
}

func writeChecksum(c *fiber.Ctx, e gateway.Extra) {
	if e.ChecksumAlgorithm != "" && e.Checksum != "" {
		c.Set("x-amz-checksum-"+strings.ToLower(e.ChecksumAlgorithm), e.Checksum)
		typ := e.ChecksumType
		if typ == "" {
			typ = gateway.ChecksumFullObject
		}
		c.Set("x-amz-checksum-type", typ)
	}
}

// overrides are the response-* query parameters of GetObject (presigned downloads).
type overrides map[string]string

var overrideHeaders = map[string]string{
	"response-content-type": fiber.HeaderContentType, "response-content-language": fiber.HeaderContentLanguage,
	"response-expires": fiber.HeaderExpires, "response-cache-control": fiber.HeaderCacheControl,
	"response-content-disposition": fiber.HeaderContentDisposition, "response-content-encoding": fiber.HeaderContentEncoding,
}

func responseOverrides(req *request) (overrides, error) {
	out := overrides{}
	for param, header := range overrideHeaders {
		if !req.query.Has(param) {
			continue
		}
		v := req.query.Get(param)
		if !validHeaderValue(v) {
			return nil, errorf(400, "InvalidArgument", "Invalid value for "+param)
		}
		out[header] = v
	}
	return out, nil
}

func (o overrides) apply(c *fiber.Ctx) {
	for k, v := range o {
		c.Set(k, v)
	}
}

// releaseOnClose releases the request's upstream resources when fasthttp closes the stream
// after writing the response.
type releaseOnClose struct {
	io.ReadCloser
	release context.CancelFunc
}

// WriteTo copies the body to the response with a 256 KiB buffer: fewer, larger reads from
// the store's stream and writes to the socket than fasthttp's own copy (about a sixth less
// CPU per 16 MiB GET through the s3 backend, docs/backends.md).
func (r releaseOnClose) WriteTo(w io.Writer) (int64, error) {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	return io.CopyBuffer(writerOnly{w}, readerOnly{r.ReadCloser}, *buf)
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// writerOnly and readerOnly hide ReadFrom and WriteTo, so io.CopyBuffer uses its buffer.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

func (r releaseOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.release()
	return err
}
