package s3proto

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// getObjectAttributes answers the attributes named by x-amz-object-attributes.
func (h *Handler) getObjectAttributes(c *fiber.Ctx, req *request) error {
	want := map[string]bool{}
	// The SDKs send the list as one comma-separated header or as repeated headers.
	for _, v := range c.Request().Header.PeekAll("X-Amz-Object-Attributes") {
		for a := range strings.SplitSeq(string(v), ",") {
			if a = strings.TrimSpace(a); a != "" {
				want[a] = true
			}
		}
	}
	if len(want) == 0 {
		return errorf(400, "InvalidArgument", "Invalid attribute name specified.")
	}
	obj, err := h.engine.HeadObject(c.UserContext(), h.caller(c, req), req.bucket, req.key, false)
	if err != nil {
		return err
	}
	var out objectAttributes
	if want["ETag"] {
		out.ETag = strings.Trim(obj.ETag, `"`)
	}
	if want["Checksum"] && obj.Extra.Checksum != "" {
		cs := objectChecksums(obj.Extra)
		out.Checksum = &cs
	}
	if want["StorageClass"] {
		out.StorageClass = "STANDARD"
	}
	if want["ObjectSize"] {
		size := obj.Size
		out.ObjectSize = &size
	}
	c.Set(fiber.HeaderLastModified, obj.LastModified.UTC().Format(http.TimeFormat))
	return writeXML(c, fiber.StatusOK, out)
}
