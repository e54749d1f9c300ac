package s3proto

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// getBucketVersioning answers the bucket's versioning state; a never-versioned bucket's
// document has no Status, as in S3.
// Deviation: the reference answers Suspended, which makes rclone purge list versions and fail.
func (h *Handler) getBucketVersioning(c *fiber.Ctx, req *request) error {
	status, err := h.engine.BucketVersioning(c.UserContext(), h.caller(c, req), req.bucket)
	if err != nil {
		return err
	}
	return writeXML(c, fiber.StatusOK, versioningConfiguration{Status: status})
}

var (
	errMfaDelete       = errorf(501, "NotImplemented", "MFA delete is not supported: versioning can be set without MfaDelete (or with MfaDelete Disabled)")
	errBadVersionState = errorf(400, "IllegalVersioningConfigurationException", "The Versioning element must be specified and its Status must be Enabled or Suspended")
)

// putBucketVersioning sets Enabled or Suspended. MFA delete is not supported and says so.
func (h *Handler) putBucketVersioning(c *fiber.Ctx, req *request) error {
	var body versioningRequest
	if err := h.readXMLBody(c, req, &body); err != nil {
		return err
	}
	switch {
	case body.MfaDelete == "Enabled" || c.Get("x-amz-mfa") != "":
		return errMfaDelete
	case body.MfaDelete != "" && body.MfaDelete != "Disabled":
		return errMalformedXML
	case body.Status != gateway.VersioningEnabled && body.Status != gateway.VersioningSuspended:
		return errBadVersionState
	}
	if err := h.engine.SetBucketVersioning(c.UserContext(), h.caller(c, req), req.bucket, body.Status); err != nil {
		return err
	}
	return empty200(c)
}

// setVersionID sends x-amz-version-id for an object of a versioned bucket, and
// x-amz-expiration when a lifecycle rule will expire it.
func setVersionID(c *fiber.Ctx, o gateway.Object) {
	if o.VersionID != "" {
		c.Set("x-amz-version-id", o.VersionID)
	}
	if x := o.Expiration; x != nil {
		c.Set("x-amz-expiration", `expiry-date="`+x.Date.UTC().Format(http.TimeFormat)+`", rule-id="`+strings.ReplaceAll(x.RuleID, `"`, `\"`)+`"`)
	}
}

// listObjectVersions lists versions and delete markers (a never-versioned bucket's objects
// are each their key's only version, "null").
func (h *Handler) listObjectVersions(c *fiber.Ctx, req *request) error {
	p, err := parseListParams(req)
	if err != nil {
		return err
	}
	keyMarker, idMarker := req.query.Get("key-marker"), req.query.Get("version-id-marker")
	if idMarker != "" && keyMarker == "" {
		return errorf(400, "InvalidArgument", "A version-id marker cannot be specified without a key marker.")
	}
	out := listVersionsResult{Name: req.bucket, Prefix: p.enc(p.prefix), KeyMarker: p.enc(keyMarker),
		VersionIDMarker: idMarker, MaxKeys: p.maxKeys, Delimiter: p.enc(p.delimiter)}
	if p.encode {
		out.EncodingType = "url"
	}
	if p.maxKeys == 0 {
		return writeXML(c, fiber.StatusOK, out)
	}
	res, err := h.engine.ListObjectVersions(c.UserContext(), h.caller(c, req), gateway.ListVersions{Bucket: req.bucket,
		Prefix: p.prefix, Delimiter: p.delimiter, KeyMarker: keyMarker, VersionIDMarker: idMarker, MaxKeys: p.maxKeys})
	if err != nil {
		return err
	}
	out.IsTruncated, out.CommonPrefixes = res.IsTruncated, p.prefixes(res.CommonPrefixes)
	for _, o := range res.Versions {
		v := objectVersion{Kind: "Version", Key: p.enc(o.Key), VersionID: o.VersionID, IsLatest: o.IsLatest,
			LastModified: isoTime(o.LastModified), Owner: &owner{ID: o.OwnerID}}
		if o.DeleteMarker {
			v.Kind = "DeleteMarker"
		} else {
			size := o.Size
			v.ETag, v.Size, v.StorageClass = o.ETag, &size, "STANDARD"
		}
		out.Versions = append(out.Versions, v)
	}
	if res.IsTruncated {
		out.NextKeyMarker, out.NextVersionIDMarker = p.enc(res.NextKeyMarker), res.NextVersionIDMarker
	}
	return writeXML(c, fiber.StatusOK, out)
}

// deleteObjectVersion removes one version (DeleteObject ?versionId): 204 with the version
// id, and x-amz-delete-marker when it was a delete marker.
func (h *Handler) deleteObjectVersion(c *fiber.Ctx, req *request, id string) error {
	o, err := h.engine.DeleteObjectVersion(c.UserContext(), h.caller(c, req), req.bucket, req.key, id)
	if err != nil {
		return err
	}
	c.Set("x-amz-version-id", id)
	if o.DeleteMarker {
		c.Set("x-amz-delete-marker", "true")
	}
	return noContent(c)
}

// validVersionID reports whether id can be a version id Stowage hands out: "null" or a
// UUID. S3 answers any other id with 400 InvalidArgument.
func validVersionID(id string) bool {
	if id == gateway.NullVersionID {
		return true
	}
	if len(id) != 36 {
		return false
	}
	for i, r := range id {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !('0' <= r && r <= '9' || 'a' <= r && r <= 'f'):
			return false
		}
	}
	return true
}

var errBadVersionID = errorf(400, "InvalidArgument", "Invalid version id specified")

// queryVersionID is the request's versionId parameter ("" without one).
func queryVersionID(req *request) (string, error) {
	if !req.query.Has("versionId") {
		return "", nil
	}
	id := req.query.Get("versionId")
	if !validVersionID(id) {
		return "", errBadVersionID
	}
	return id, nil
}
