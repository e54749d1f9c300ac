package rest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// upload serves POST (create; x-upsert: true overwrites) and PUT (always upsert) of a raw or
// multipart/form-data body. The body stays a stream from the socket to the store.
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
		in, err := h.uploadInput(c, bucket, key)
		if err != nil {
			return err
		}
		in.Upsert = alwaysUpsert || c.Get("x-upsert") == "true"
		obj, err := h.engine.PutObject(c.UserContext(), h.caller(c, p, op), in)
		if err != nil {
			return err
		}
		drainForm(c)
		setVersionID(c, obj)
		return sendJSON(c, fiber.Map{"Key": bucket + "/" + key, "Id": obj.ID})
	}
}

// setVersionID adds x-amz-version-id, as S3's PutObject sends it, when the write created a
// version in a versioned (Enabled or Suspended) bucket; a never-versioned bucket's answer
// is the reference's, unchanged.
func setVersionID(c *fiber.Ctx, obj gateway.Object) {
	if obj.VersionID != "" {
		c.Set("x-amz-version-id", obj.VersionID)
	}
}

// uploadInput reads everything an upload needs before its bytes: the raw body with its
// headers, or the form fields preceding the first file part and that part as the body.
func (h *Handler) uploadInput(c *fiber.Ctx, bucket, key string) (gateway.PutObject, error) {
	robots := c.Get("x-robots-tag")
	if robots != "" && !validRobotsTag(robots) {
		return gateway.PutObject{}, newAPIError(400, 400, "invalid_x_robots_tag", "InvalidRequest", "Invalid X-Robots-Tag header: "+robots)
	}
	in := gateway.PutObject{Bucket: bucket, Key: key, XRobotsTag: robots, Limit: h.opts.StandardLimit}
	var stream io.Reader
	if s := c.Context().RequestBodyStream(); s != nil {
		stream = s
	}
	if boundary, ok := formBoundary(c.Get(fiber.HeaderContentType)); ok {
		if stream == nil {
			return in, invalidRequest("No content provided")
		}
		f, err := readFormHead(multipart.NewReader(stream, boundary))
		if err != nil {
			return in, err
		}
		in.Body, in.Size, in.ContentType, in.CacheControl, in.UserMetadata = f.body, -1, f.contentType, f.cacheControl, f.userMetadata
		c.Locals(formLocal{}, f.reader)
		return in, nil
	}
	size := int64(c.Request().Header.ContentLength())
	if size < 0 {
		size = -1 // chunked: unknown until the end
	}
	if size != 0 {
		in.Body = stream
	}
	in.Size, in.ContentType, in.CacheControl = size, c.Get(fiber.HeaderContentType), c.Get(fiber.HeaderCacheControl)
	var err error
	in.UserMetadata, err = userMetadataHeader(c.Get("x-metadata"))
	return in, err
}

// userMetadataHeader decodes x-metadata, base64 (standard or URL alphabet, padded or not,
// as Node's decoder the reference uses accepts) of a JSON object; REST uploads without
// metadata store {}.
//
// Deviation: the reference silently ignores a value that is not base64 of a JSON object
// and stores {}; the client's metadata is then lost without a word. Stowage answers 400.
func userMetadataHeader(v string) (json.RawMessage, error) {
	if v == "" {
		return json.RawMessage(`{}`), nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(v); err == nil {
			if !isJSONObject(raw) {
				break
			}
			return raw, nil
		}
	}
	return nil, invalidMetadata("Invalid x-metadata header: it must be base64 of a JSON object")
}

// isJSONObject reports whether raw is one JSON object.
func isJSONObject(raw []byte) bool {
	return json.Valid(raw) && strings.HasPrefix(strings.TrimSpace(string(raw)), "{")
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
	return sendJSON(c, fiber.Map{"message": "Successfully deleted"})
}

// deleteObjects serves storage-js remove(paths): {"prefixes": [...]} are exact keys.
func (h *Handler) deleteObjects(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	var body struct {
		Prefixes json.RawMessage `json:"prefixes"`
	}
	if err := h.readJSON(c, &body, false); err != nil {
		return err
	}
	keys, err := requiredStrings(body.Prefixes, "prefixes", gateway.MaxDeleteKeys)
	if err != nil {
		return err
	}
	bucket, err := pathParam(c, "bucket")
	if err != nil {
		return err
	}
	deleted, err := h.engine.DeleteObjects(c.UserContext(), h.caller(c, p, "storage.object.delete_many"), bucket, keys)
	if err != nil && gateway.CodeOf(err) != gateway.CodeNoSuchBucket {
		return err
	}
	out := make([]objectJSON, len(deleted))
	for i, o := range deleted {
		out[i] = renderObject(o)
	}
	return sendJSON(c, out)
}

// objectJSON is an object row as copy and delete-many render it ("" for null owners).
type objectJSON struct {
	Name           string          `json:"name"`
	BucketID       string          `json:"bucket_id"`
	Owner          string          `json:"owner"`
	OwnerID        string          `json:"owner_id"`
	Version        string          `json:"version"`
	ID             string          `json:"id"`
	UpdatedAt      string          `json:"updated_at"`
	CreatedAt      string          `json:"created_at"`
	LastAccessedAt string          `json:"last_accessed_at"`
	Metadata       json.RawMessage `json:"metadata"`
	UserMetadata   json.RawMessage `json:"user_metadata"`
}

func renderObject(o gateway.Object) objectJSON {
	return objectJSON{Name: o.Key, BucketID: o.Bucket, Owner: o.Owner, OwnerID: o.OwnerID, Version: o.Version, ID: o.ID,
		UpdatedAt: isoTime(o.UpdatedAt), CreatedAt: isoTime(o.CreatedAt), LastAccessedAt: isoTime(o.LastAccessedAt),
		Metadata: nullJSON(o.Metadata), UserMetadata: nullJSON(o.UserMetadata)}
}

func nullJSON(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("null")
	}
	return m
}

func formBoundary(contentType string) (string, bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", false
	}
	return params["boundary"], true
}
