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
	keys := make([]string, len(body.Objects))
	for i, o := range body.Objects {
		keys[i] = o.Key
	}
	r, err := h.engine.DeleteObjectsReport(c.UserContext(), h.caller(c, req), req.bucket, keys)
	if err != nil {
		return err
	}
	refused := make(map[string]bool, len(r.Refused))
	for _, k := range r.Refused {
		refused[k] = true
	}
	var out deleteResult
	for _, k := range keys {
		switch {
		case refused[k]:
			out.Errors = append(out.Errors, deleteError{Key: k, Code: "AccessDenied", Message: "Access Denied"})
		case !body.Quiet:
			out.Deleted = append(out.Deleted, deletedEntry{Key: k})
		}
	}
	return writeXML(c, fiber.StatusOK, out)
}
