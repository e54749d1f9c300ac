package s3proto

import (
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// deleteObjects removes up to 1000 keys named by an XML body read through a size cap. Every
// requested key that is gone afterwards is reported Deleted (S3 reports keys that did not
// exist as deleted too); Quiet mode reports only errors.
func (h *Handler) deleteObjects(c *fiber.Ctx, req *request) error {
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
	if _, err := h.engine.DeleteObjects(c.UserContext(), h.caller(c, req), req.bucket, keys); err != nil {
		return err
	}
	var out deleteResult
	if !body.Quiet {
		out.Deleted = make([]deletedEntry, len(keys))
		for i, k := range keys {
			out.Deleted[i] = deletedEntry{Key: k}
		}
	}
	return writeXML(c, fiber.StatusOK, out)
}
