package s3proto

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/sigv4"
)

// Bounds on what precedes the file part of a browser POST upload, so a hostile form costs
// bounded memory: the fields are read whole, the file never is.
const (
	maxPostFields = 20
	maxPostField  = 64 << 10
	maxPostPolicy = 20 << 10
	// maxPostTail bounds what is drained after the file part (closing boundary, trailing
	// fields, which S3 ignores) so the connection can be reused.
	maxPostTail = 1 << 20
)

var (
	errPostMalformed = errorf(400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.")
	errPostNoFile    = errorf(400, "InvalidArgument", "POST requires exactly one file upload per request.")
	errPostPreData   = errorf(400, "MaxPostPreDataLengthExceededError", "Your POST request fields preceding the upload file were too large.")
)

// isFormData reports whether a Content-Type is multipart/form-data.
func isFormData(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "multipart/form-data")
}

// postObject stores the file of a browser form upload (spec §2.1.3, §5.3 PostObject): the
// fields before the file are read (bounded), the policy verified, then the file part is
// streamed to the engine within the policy's content-length-range.
func (h *Handler) postObject(c *fiber.Ctx, req *request) error {
	_, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || params["boundary"] == "" {
		return errPostMalformed
	}
	var stream io.Reader = c.Context().RequestBodyStream()
	if stream == nil {
		stream = strings.NewReader("")
	}
	form := multipart.NewReader(stream, params["boundary"])
	fields, file, err := readPostFields(form)
	if err != nil {
		return err
	}
	creds := h.credentials(c.UserContext())
	policy, err := creds.verifier().VerifyPostPolicy(sigv4.PostForm{Fields: fields, Bucket: req.bucket, Filename: file.FileName()})
	if err != nil {
		return creds.failed(err)
	}
	req.sig = sigv4.Result{AccessKeyID: policy.AccessKeyID, SessionToken: policy.SessionToken}
	if req.principal, err = h.principal(req.sig, creds); err != nil {
		return err
	}
	req.key, req.hasKey = policy.Key, true
	req.resource = req.bucket + "/" + req.key
	meta, err := postMetadata(fields)
	if err != nil {
		return err
	}
	// The acl field is PutObject's x-amz-acl: the object keeps its bucket's access, so
	// public-read needs a public bucket (checkObjectACL).
	public, _, err := parseCannedACL(fields["acl"], true)
	if err := h.checkObjectPublic(c, req, public, err); err != nil {
		return err
	}
	// If-None-Match: * / If-Match request headers condition the write as on PutObject
	// (a form sent by fetch or XHR can carry them).
	cond, err := writeConditions(c)
	if err != nil {
		return err
	}
	obj, err := h.engine.PutObject(c.UserContext(), h.caller(c, req), gateway.PutObject{
		Bucket: req.bucket, Key: req.key, Size: -1, Body: &lengthRangeReader{r: file, rng: policy.ContentLength},
		ContentType: fields["content-type"], CacheControl: fields["cache-control"], UserMetadata: meta,
		Upsert: true, Limit: h.opts.StandardLimit, Conditions: cond,
	})
	if err != nil {
		return err
	}
	drainPostForm(form)
	setVersionID(c, obj)
	return postResponse(c, req, fields, obj.ETag)
}

// readPostFields reads the fields preceding the file part, by lower-case name, and returns
// the file part unread. Names are case-insensitive, so a repeated name in any case is
// rejected.
func readPostFields(form *multipart.Reader) (map[string]string, *multipart.Part, error) {
	fields := make(map[string]string)
	for {
		part, err := form.NextPart()
		switch {
		case errors.Is(err, io.EOF):
			return nil, nil, errPostNoFile
		case err != nil:
			return nil, nil, errPostMalformed
		}
		// Checked before lower-casing, which would turn invalid UTF-8 into U+FFFD.
		if err := gateway.CheckText("A form field name", part.FormName()); err != nil {
			return nil, nil, err
		}
		name := strings.ToLower(part.FormName())
		if name == "file" {
			return fields, part, nil
		}
		if name == "" {
			return nil, nil, errPostMalformed
		}
		if len(fields) >= maxPostFields {
			return nil, nil, errPostPreData
		}
		limit := int64(maxPostField)
		if name == "policy" {
			limit = maxPostPolicy
		}
		value, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return nil, nil, &gateway.Error{Code: gateway.CodeIncompleteBody, Err: err}
		}
		if int64(len(value)) > limit {
			return nil, nil, errPostPreData
		}
		if _, dup := fields[name]; dup {
			return nil, nil, errorf(400, "InvalidArgument", "Duplicate form field "+name)
		}
		fields[name] = string(value)
	}
}

// postMetadata collects the x-amz-meta-* fields as user metadata (names lower-cased).
func postMetadata(fields map[string]string) (json.RawMessage, error) {
	return collectMetadata(maps.All(fields))
}

// lengthRangeReader fails a file part outside the policy's content-length-range: past the
// maximum as soon as it is exceeded, below the minimum at the end, so that the engine never
// commits it.
type lengthRangeReader struct {
	r   io.Reader
	rng sigv4.ContentLengthRange
	n   int64
}

func (l *lengthRangeReader) Read(p []byte) (int, error) {
	// room+1 would overflow for a policy maximum of math.MaxInt64; room < len(p) keeps it small.
	if room := l.rng.Max - l.n; l.rng.Set && room < int64(len(p)) {
		p = p[:max(room+1, 0)] // one byte past the maximum is enough to know
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.rng.Set && l.n > l.rng.Max {
		return n, sigv4.ErrEntityTooLarge
	}
	if errors.Is(err, io.EOF) {
		if rerr := l.rng.Check(l.n); rerr != nil {
			return n, rerr
		}
	}
	return n, err
}

// drainPostForm reads what follows the stored file part, bounded.
func drainPostForm(form *multipart.Reader) {
	for range maxPostFields + 1 {
		part, err := form.NextPart()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, io.LimitReader(part, maxPostTail)); err != nil {
			return
		}
	}
}

// postResponseBody is S3's answer to success_action_status=201.
type postResponseBody struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// postResponse answers a stored upload: a 303 to success_action_redirect (with bucket, key
// and etag added to its query) when that is an absolute http(s) URL, else
// success_action_status (200, 201 with a PostResponse document, or 204); 200 without one,
// as the reference answers.
func postResponse(c *fiber.Ctx, req *request, fields map[string]string, etag string) error {
	location := c.BaseURL() + strings.TrimSuffix(string(c.Request().URI().PathOriginal()), "/") + "/" + (&url.URL{Path: req.key}).EscapedPath()
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderLocation, location)
	redirect := fields["success_action_redirect"]
	if redirect == "" {
		redirect = fields["redirect"]
	}
	if u, err := url.Parse(redirect); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		q := u.Query()
		q.Set("bucket", req.bucket)
		q.Set("key", req.key)
		q.Set("etag", etag)
		u.RawQuery = q.Encode()
		c.Set(fiber.HeaderLocation, u.String())
		c.Status(fiber.StatusSeeOther)
		c.Response().ResetBody()
		return nil
	}
	switch fields["success_action_status"] {
	case "201":
		return writeXML(c, fiber.StatusCreated, postResponseBody{Location: location, Bucket: req.bucket, Key: req.key, ETag: etag})
	case "204":
		return noContent(c)
	}
	return empty200(c)
}
