package s3proto

import (
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/sigv4"
)

// deleteObjects removes up to 1000 keys named by an XML body read through a size cap. A
// requested key that exists but that RLS refused is an AccessDenied Error; every other key
// is reported Deleted (S3 reports keys that did not exist as deleted too). Quiet mode
// reports only errors. As at S3, a body no signature covers (SigV2, or SigV4's
// UNSIGNED-PAYLOAD) needs Content-MD5 or an x-amz-checksum-* header.
func (h *Handler) deleteObjects(c *fiber.Ctx, req *request) error {
	if (req.sig.Version == 2 || req.sig.Payload == sigv4.PayloadUnsigned) && !v2BodyBound(c, req) {
		return errDeleteUnbound
	}
	var body deleteRequest
	if err := h.readXMLBody(c, req, &body); err != nil {
		return err
	}
	if len(body.Objects) == 0 {
		return errMalformedXML
	}
	if len(body.Objects) > gateway.MaxDeleteKeys {
		return errMalformedXML // S3's answer for more than 1000 keys
	}
	var keys []string
	for _, o := range body.Objects {
		if o.VersionID == "" {
			keys = append(keys, o.Key)
		}
	}
	var r gateway.DeleteReport
	if len(keys) > 0 {
		var err error
		if r, err = h.engine.DeleteObjectsReport(c.UserContext(), h.caller(c, req), req.bucket, keys); err != nil {
			return err
		}
	}
	refused := make(map[string]bool, len(r.Refused))
	for _, k := range r.Refused {
		refused[k] = true
	}
	markers := map[string]string{}
	for _, o := range r.Deleted {
		if o.DeleteMarker {
			markers[o.Key] = o.VersionID
		}
	}
	var out deleteResult
	for _, o := range body.Objects {
		if o.VersionID != "" {
			out = h.deleteVersionEntry(c, req, o.Key, o.VersionID, body.Quiet, out)
			continue
		}
		switch {
		case refused[o.Key]:
			out.Errors = append(out.Errors, deleteError{Key: o.Key, Code: "AccessDenied", Message: "Access Denied"})
		case !body.Quiet:
			d := deletedEntry{Key: o.Key}
			if id, ok := markers[o.Key]; ok {
				d.DeleteMarker, d.DeleteMarkerVersionID = true, id
			}
			out.Deleted = append(out.Deleted, d)
		}
	}
	return writeXML(c, fiber.StatusOK, out)
}

// deleteVersionEntry removes one version named in a DeleteObjects body and reports it.
func (h *Handler) deleteVersionEntry(c *fiber.Ctx, req *request, key, id string, quiet bool, out deleteResult) deleteResult {
	if !validVersionID(id) {
		out.Errors = append(out.Errors, deleteError{Key: key, VersionID: id, Code: "NoSuchVersion", Message: "The specified version does not exist."})
		return out
	}
	o, err := h.engine.DeleteObjectVersion(c.UserContext(), h.caller(c, req), req.bucket, key, id)
	if err != nil {
		e := toS3Error(err)
		out.Errors = append(out.Errors, deleteError{Key: key, VersionID: id, Code: e.Code, Message: e.Message})
		return out
	}
	if !quiet {
		d := deletedEntry{Key: key, VersionID: id}
		if o.DeleteMarker {
			d.DeleteMarker, d.DeleteMarkerVersionID = true, id
		}
		out.Deleted = append(out.Deleted, d)
	}
	return out
}
