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
	if err := checkStorageClass(c); err != nil {
		return err
	}
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
	setVersionID(c, obj)
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
	cond, err := writeConditions(c)
	if err != nil {
		return gateway.PutObject{}, err
	}
	extra := extraHeaders(c)
	extra.Tags = tags
	return gateway.PutObject{Bucket: req.bucket, Key: req.key, ContentType: c.Get(fiber.HeaderContentType),
		CacheControl: c.Get(fiber.HeaderCacheControl), UserMetadata: meta, XRobotsTag: c.Get("x-robots-tag"),
		Upsert: true, Extra: extra, Integrity: integ, Conditions: cond}, nil
}

// writeConditions reads S3's conditional-write headers (PutObject, CompleteMultipartUpload,
// CopyObject's destination). S3 takes If-None-Match only as "*" and answers any other
// value, or If-None-Match together with If-Match, with 501 NotImplemented; the date
// conditions are not evaluated on writes.
func writeConditions(c *fiber.Ctx) (gateway.WriteConditions, error) {
	ifMatch, ifNoneMatch := strings.TrimSpace(c.Get(fiber.HeaderIfMatch)), strings.TrimSpace(c.Get(fiber.HeaderIfNoneMatch))
	if ifNoneMatch != "" && (ifNoneMatch != "*" || ifMatch != "") {
		return gateway.WriteConditions{}, errNotImplemented
	}
	return gateway.WriteConditions{IfAbsent: ifNoneMatch == "*", IfMatch: ifMatch}, nil
}

// getObject streams an object (or one range of it). The upstream read is released when
// fasthttp closes the stream after writing it, not when this handler returns.
func (h *Handler) getObject(c *fiber.Ctx, req *request) error {
	versionID, err := queryVersionID(req)
	if err != nil {
		return err
	}
	part, err := checkPartNumber(c, req)
	if err != nil {
		return err
	}
	overrides, err := responseOverrides(req)
	if err != nil {
		return err
	}
	// A small body is read into a pooled buffer and copied into the response: sent with the
	// headers in one write, no stream to close afterwards.
	buf := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(buf)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), h.opts.DownloadTimeout)
	r, err := h.engine.GetObject(ctx, h.caller(c, req), gateway.GetObject{Bucket: req.bucket, Key: req.key,
		Range: c.Get(fiber.HeaderRange), S3Range: true, Conditions: conditions(c, ""), PartNumber: part,
		VersionID: versionID, Versions: true, Buffer: (*buf)[:0]})
	if err != nil {
		cancel()
		return readError(c, r, err, part)
	}
	length := writeReadHeaders(c, r, overrides)
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

// readError finishes a failed GET or HEAD: a 304 carries the object's headers, and a part
// the object lacks is S3's InvalidPartNumber.
func readError(c *fiber.Ctx, r gateway.ObjectReader, err error, part int) error {
	switch gateway.CodeOf(err) {
	case gateway.CodeNotModified:
		writeObjectHeaders(c, r.Object, false)
	case gateway.CodeInvalidRange:
		if part > 0 {
			return errInvalidPartNum
		}
	}
	return err
}

// writeReadHeaders sets the status and headers of a GET or HEAD answer and returns the
// length of the body: the object, its range, or one part (206 with Content-Range, and
// x-amz-mp-parts-count for a multipart object, as S3 answers).
func writeReadHeaders(c *fiber.Ctx, r gateway.ObjectReader, o overrides) int64 {
	checksumMode := c.Get("x-amz-checksum-mode") == "ENABLED"
	writeObjectHeaders(c, r.Object, checksumMode && !r.Partial)
	if checksumMode && r.PartChecksum != "" {
		// One part read by partNumber: its own checksum, as S3 answers.
		e := r.Extra
		e.Checksum = r.PartChecksum
		writeChecksum(c, e)
	}
	o.apply(c)
	if r.PartsCount > 0 {
		c.Set("x-amz-mp-parts-count", strconv.Itoa(r.PartsCount))
	}
	if !r.Partial {
		return r.Size
	}
	if r.Range.Length() > 0 {
		// An empty part has no byte range to name: it is answered 200 with no body.
		c.Status(http.StatusPartialContent)
		c.Set(fiber.HeaderContentRange, contentRange(r.Range, r.Size))
	}
	return r.Range.Length()
}

// headObject answers an object's headers from its row; Range and conditions apply as for GET.
func (h *Handler) headObject(c *fiber.Ctx, req *request) error {
	versionID, err := queryVersionID(req)
	if err != nil {
		return err
	}
	part, err := checkPartNumber(c, req)
	if err != nil {
		return err
	}
	overrides, err := responseOverrides(req)
	if err != nil {
		return err
	}
	r, err := h.engine.StatObject(c.UserContext(), h.caller(c, req), gateway.GetObject{Bucket: req.bucket, Key: req.key,
		Range: c.Get(fiber.HeaderRange), S3Range: true, Conditions: conditions(c, ""), PartNumber: part,
		VersionID: versionID, Versions: true})
	if err != nil {
		return readError(c, r, err, part)
	}
	length := writeReadHeaders(c, r, overrides)
	c.Response().Header.SetContentLength(int(length))
	c.Response().SkipBody = true
	return nil
}

// deleteObject removes an object: 204 whether or not it existed (S3 is idempotent here),
// NoSuchBucket for a missing bucket, AccessDenied when RLS refused an existing object.
func (h *Handler) deleteObject(c *fiber.Ctx, req *request) error {
	if req.query.Has("versionId") {
		id, err := queryVersionID(req)
		if err != nil {
			return err
		}
		return h.deleteObjectVersion(c, req, id)
	}
	r, err := h.engine.DeleteObjectsReport(c.UserContext(), h.caller(c, req), req.bucket, []string{req.key})
	if err != nil {
		return err
	}
	if len(r.Refused) > 0 {
		return &gateway.Error{Code: gateway.CodeForbidden, Bucket: req.bucket, Key: req.key, Message: "Access denied"}
	}
	// In a versioned bucket the delete wrote a delete marker.
	if len(r.Deleted) == 1 && r.Deleted[0].DeleteMarker {
		c.Set("x-amz-delete-marker", "true")
		c.Set("x-amz-version-id", r.Deleted[0].VersionID)
	}
	return noContent(c)
}

// errRangeWithPart is S3's answer to a GET or HEAD naming both a part and a range.
var errRangeWithPart = errorf(400, "InvalidRequest", "Cannot specify both Range header and partNumber query parameter")

// checkPartNumber reads GET and HEAD's partNumber (0 when absent): 1..10000, and not
// together with Range, which S3 refuses as InvalidRequest.
func checkPartNumber(c *fiber.Ctx, req *request) (int, error) {
	if !req.query.Has("partNumber") {
		return 0, nil
	}
	n, err := multipart.ParsePartNumber(req.query.Get("partNumber"))
	switch {
	case err != nil:
		return 0, errBadPartNumber
	case c.Get(fiber.HeaderRange) != "":
		return 0, errRangeWithPart
	}
	return n, nil
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
	setVersionID(c, o)
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
