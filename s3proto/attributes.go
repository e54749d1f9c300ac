package s3proto

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
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
	versionID, err := queryVersionID(req)
	if err != nil {
		return err
	}
	obj, err := h.engine.HeadVersion(c.UserContext(), h.caller(c, req), req.bucket, req.key, versionID)
	if err != nil {
		return err
	}
	setVersionID(c, obj)
	var out objectAttributes
	if want["ETag"] {
		out.ETag = strings.Trim(obj.ETag, `"`)
	}
	if want["Checksum"] && obj.Extra.Checksum != "" {
		// S3 answers a composite checksum here without its "-N" part count (HeadObject
		// and CompleteMultipartUpload keep it); the count is ObjectParts' PartsCount.
		extra := obj.Extra
		if i := strings.LastIndexByte(extra.Checksum, '-'); i > 0 {
			extra.Checksum = extra.Checksum[:i]
		}
		cs := objectChecksums(extra)
		out.Checksum = &cs
	}
	if want["ObjectParts"] {
		if out.ObjectParts, err = h.objectParts(c, req, obj); err != nil {
			return err
		}
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

// objectParts is GetObjectAttributes' ObjectParts element: S3 sends it for multipart
// objects only.
type objectParts struct {
	PartNumberMarker     int          `xml:"PartNumberMarker"`
	NextPartNumberMarker int          `xml:"NextPartNumberMarker"`
	MaxParts             int          `xml:"MaxParts"`
	IsTruncated          bool         `xml:"IsTruncated"`
	PartsCount           int          `xml:"PartsCount"`
	Parts                []objectPart `xml:"Part"`
}

type objectPart struct {
	PartNumber int   `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
	checksums
}

// objectParts pages obj's parts as x-amz-max-parts (default and cap 1000) and
// x-amz-part-number-marker ask; nil for an object that is not multipart.
func (h *Handler) objectParts(c *fiber.Ctx, req *request, obj gateway.Object) (*objectParts, error) {
	maxParts, err := headerInt(c, "x-amz-max-parts", gateway.MaxListParts)
	if err != nil {
		return nil, err
	}
	marker, err := headerInt(c, "x-amz-part-number-marker", 0)
	if err != nil {
		return nil, err
	}
	maxParts = min(max(maxParts, 1), gateway.MaxListParts)
	l, err := h.engine.ListObjectParts(c.UserContext(), h.caller(c, req), obj, marker, maxParts)
	if err != nil || l.Total == 0 {
		return nil, err
	}
	out := &objectParts{PartNumberMarker: marker, NextPartNumberMarker: l.NextPartNumberMarker, MaxParts: maxParts,
		IsTruncated: l.IsTruncated, PartsCount: l.Total}
	for _, p := range l.Parts {
		cs := newChecksums(p.ChecksumAlgorithm, p.Checksum)
		cs.ChecksumType = "" // per object, not per part
		out.Parts = append(out.Parts, objectPart{PartNumber: p.Number, Size: p.Size, checksums: cs})
	}
	return out, nil
}

// headerInt reads an optional non-negative integer header.
func headerInt(c *fiber.Ctx, name string, def int) (int, error) {
	v := c.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errorf(400, "InvalidArgument", "Provided "+name+" not an integer or within integer range")
	}
	return n, nil
}
