package rest

import (
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// maxExpiresIn bounds signed URL lifetimes (about 100 years): now+expiresIn must stay a
// representable date.
const maxExpiresIn = 100 * 365 * 24 * 3600

// expiresIn reads the required expiresIn field (integer seconds ≥ 1).
func expiresIn(raw json.RawMessage) (time.Duration, error) {
	n, ok, err := intField(raw, "body/expiresIn", 1)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, validationError("body must have required property 'expiresIn'")
	}
	if n > maxExpiresIn {
		return 0, invalidParameter("expiresIn")
	}
	return time.Duration(n) * time.Second, nil
}

// downloadToken mints the token of a signed download URL for bucket/key, with the render
// claims of t when it asks for a transformation.
func (h *Handler) downloadToken(bucket, key string, ttl time.Duration, t signTransform) (string, error) {
	now := h.opts.Now()
	claims := map[string]any{"url": bucket + "/" + key, "scope": "download", "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	if t.transformations != "" {
		claims["transformations"] = t.transformations
		if t.format != "" {
			claims["format"] = t.format
		}
	}
	return h.opts.Verifier.SignURL(claims)
}

// signTransform is the render part of a signed URL (rest-api.md §4.1).
type signTransform struct{ transformations, format string }

// signTransform reads the optional transform object of POST /object/sign. It is ignored
// when image transformation is off, as in the reference.
func (h *Handler) signTransform(raw json.RawMessage) (signTransform, error) {
	if absent(raw) || string(raw) == "null" || h.opts.SignTransform == nil {
		return signTransform{}, nil
	}
	tr, format, err := h.opts.SignTransform(raw)
	return signTransform{tr, format}, err
}

// signedPath is the signedURL of bucket/key: /render/image/sign/... when the token carries
// transformations, else /object/sign/...; the key is not percent-encoded (storage-js
// encodes the whole URL).
func signedPath(bucket, key, token string, t signTransform) string {
	prefix := "/object/sign/"
	if t.transformations != "" {
		prefix = "/render/image/sign/"
	}
	return prefix + bucket + "/" + key + "?token=" + token
}

// signBody is the JSON of POST /object/sign/{bucket}[/{key}]; only the many-paths route
// reads paths.
type signBody struct {
	ExpiresIn json.RawMessage `json:"expiresIn"`
	Paths     json.RawMessage `json:"paths"`
	Transform json.RawMessage `json:"transform"`
}

// readSignBody reads the body of both sign routes with its lifetime and transform.
func (h *Handler) readSignBody(c *fiber.Ctx) (body signBody, ttl time.Duration, tr signTransform, err error) {
	if err = h.readJSON(c, &body, false); err != nil {
		return body, 0, tr, err
	}
	if ttl, err = expiresIn(body.ExpiresIn); err != nil {
		return body, 0, tr, err
	}
	tr, err = h.signTransform(body.Transform)
	return body, ttl, tr, err
}

// signURL serves POST /object/sign/{bucket}/{key}: the object must be visible to the caller.
func (h *Handler) signURL(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	_, ttl, tr, err := h.readSignBody(c)
	if err != nil {
		return err
	}
	bucket, key, err := objectPath(c)
	if err != nil {
		return err
	}
	if _, err := h.engine.HeadObject(c.UserContext(), h.caller(c, p, "storage.object.sign"), bucket, key, false); err != nil {
		return err
	}
	token, err := h.downloadToken(bucket, key, ttl, tr)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.Map{"signedURL": signedPath(bucket, key, token, tr)})
}

// signedURLJSON is one entry of POST /object/sign/{bucket}.
type signedURLJSON struct {
	Error     *string `json:"error"`
	Path      string  `json:"path"`
	SignedURL *string `json:"signedURL"`
}

// signURLs serves POST /object/sign/{bucket} {expiresIn, paths}: one entry per path, in
// request order, with an error for those that are missing or invisible.
func (h *Handler) signURLs(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	body, ttl, tr, err := h.readSignBody(c)
	if err != nil {
		return err
	}
	paths, err := requiredStrings(body.Paths, "paths", gateway.MaxFindKeys)
	if err != nil {
		return err
	}
	bucket, err := pathParam(c, "bucket")
	if err != nil {
		return err
	}
	found, err := h.engine.FindObjects(c.UserContext(), h.caller(c, p, "storage.object.sign_many"), bucket, paths)
	if err != nil {
		return err
	}
	visible := make(map[string]bool, len(found))
	for _, o := range found {
		visible[o.Key] = true
	}
	out := make([]signedURLJSON, len(paths))
	for i, path := range paths {
		out[i].Path = path
		if !visible[path] {
			msg := "Either the object does not exist or you do not have access to it"
			out[i].Error = &msg
			continue
		}
		token, err := h.downloadToken(bucket, path, ttl, tr)
		if err != nil {
			return err
		}
		u := signedPath(bucket, path, token, tr)
		out[i].SignedURL = &u
	}
	return sendJSON(c, out)
}

// signedDownload serves GET /object/sign/{bucket}/{key}?token=: the token grants access,
// the object is read without RLS and the public flag does not matter.
func (h *Handler) signedDownload(c *fiber.Ctx) error {
	bucket, key, err := objectPath(c)
	if err != nil {
		return err
	}
	claims, err := h.verifyURLToken(c.Query("token"), bucket, key, "download")
	if err != nil {
		return err
	}
	var expires time.Time
	if exp, ok := claims["exp"].(float64); ok {
		expires = time.Unix(int64(exp), 0)
	}
	caller := h.engine.ServiceCaller("storage.object.get_signed")
	caller.Method, caller.Path = c.Method(), c.OriginalURL()
	return h.serveObject(c, caller, gateway.GetObject{Bucket: bucket, Key: key, AsService: true}, expires)
}

// createUploadURL serves POST /object/upload/sign/{bucket}/{key}: the caller's right to
// create (or, with x-upsert, overwrite) the object is checked now, then a token carrying
// owner and upsert is minted.
func (h *Handler) createUploadURL(c *fiber.Ctx) error {
	p, _, err := h.principal(c, accessRequired)
	if err != nil {
		return err
	}
	bucket, key, err := objectPath(c)
	if err != nil {
		return err
	}
	upsert := c.Get("x-upsert") == "true"
	size := max(int64(c.Request().Header.ContentLength()), 0)
	if ct := c.Get(fiber.HeaderContentType); ct == "application/json" || len(ct) > 16 && ct[:16] == "application/json" {
		size = 0 // the JSON body ({}) is not the object
	}
	meta, err := userMetadataHeader(c.Get("x-metadata"))
	if err != nil {
		return err
	}
	err = h.engine.CheckUpload(c.UserContext(), h.caller(c, p, "storage.object.upload_sign"), gateway.UploadCheck{Bucket: bucket, Key: key,
		Size: size, UserMetadata: meta, Upsert: upsert})
	if err != nil {
		return err
	}
	now := h.opts.Now()
	claims := map[string]any{"url": bucket + "/" + key, "upsert": upsert, "scope": "upload",
		"iat": now.Unix(), "exp": now.Add(h.opts.SignedUploadExpiry).Unix()}
	if p.Sub != "" {
		claims["owner"] = p.Sub
	}
	token, err := h.opts.Verifier.SignURL(claims)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.Map{"url": "/object/upload/sign/" + bucket + "/" + key + "?token=" + token, "token": token})
}

// signedUpload serves PUT /object/upload/sign/{bucket}/{key}?token=: the upload runs as the
// service role with the token's owner; upsert comes from the token, never x-upsert.
func (h *Handler) signedUpload(c *fiber.Ctx) error {
	bucket, key, err := objectPath(c)
	if err != nil {
		return err
	}
	claims, err := h.verifyURLToken(c.Query("token"), bucket, key, "upload")
	if err != nil {
		return err
	}
	in, err := h.uploadInput(c, bucket, key)
	if err != nil {
		return err
	}
	in.Upsert, _ = claims["upsert"].(bool)
	caller := h.engine.ServiceCaller("storage.object.upload_signed")
	caller.Sub, _ = claims["owner"].(string)
	caller.Method, caller.Path = c.Method(), c.OriginalURL()
	obj, err := h.engine.PutObject(c.UserContext(), caller, in)
	if err != nil {
		return err
	}
	drainForm(c)
	setVersionID(c, obj)
	return sendJSON(c, fiber.Map{"Key": bucket + "/" + key})
}
