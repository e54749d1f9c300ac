package s3proto

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// parseCopySource reads x-amz-copy-source: "[/]bucket/key[?versionId=...]", URL-encoded.
// Deviation: the reference does not percent-decode it, so keys with spaces, "+" or non-ASCII
// fail there; S3 (and every SDK) encodes it.
func parseCopySource(v string) (bucket, key, versionID string, err error) {
	bad := errorf(400, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	if i := strings.Index(v, "?"); i >= 0 {
		q, perr := url.ParseQuery(v[i+1:])
		if perr != nil || (q.Has("versionId") && !validVersionID(q.Get("versionId"))) {
			return "", "", "", errorf(400, "InvalidArgument", "Invalid version id specified")
		}
		versionID = q.Get("versionId")
		v = v[:i]
	}
	dec, uerr := url.PathUnescape(strings.TrimPrefix(v, "/"))
	if uerr != nil {
		return "", "", "", bad
	}
	bucket, key, ok := strings.Cut(dec, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", "", bad
	}
	return bucket, key, versionID, nil
}

// copyObject copies an object within or across buckets (metadata directive COPY or REPLACE,
// copy-source conditions); always an overwrite of the destination.
func (h *Handler) copyObject(c *fiber.Ctx, req *request) error {
	if err := checkStorageClass(c); err != nil {
		return err
	}
	if err := h.checkObjectACL(c, req); err != nil {
		return err
	}
	in, err := copyInput(c, req)
	if err != nil {
		return err
	}
	obj, err := h.engine.CopyObject(c.UserContext(), h.caller(c, req), in)
	if err != nil {
		return err
	}
	setVersionID(c, obj)
	if in.SrcVersionID != "" {
		c.Set("x-amz-copy-source-version-id", in.SrcVersionID)
	}
	res := copyObjectResult{ETag: obj.ETag, LastModified: isoTime(obj.LastModified),
		checksums: objectChecksums(obj.Extra)}
	return writeXML(c, fiber.StatusOK, res)
}

func copyInput(c *fiber.Ctx, req *request) (gateway.CopyObject, error) {
	srcBucket, srcKey, srcVersion, err := parseCopySource(c.Get("x-amz-copy-source"))
	if err != nil {
		return gateway.CopyObject{}, err
	}
	cond, err := writeConditions(c)
	if err != nil {
		return gateway.CopyObject{}, err
	}
	in := gateway.CopyObject{SrcBucket: srcBucket, SrcKey: srcKey, SrcVersionID: srcVersion, DstBucket: req.bucket, DstKey: req.key,
		Upsert: true, SourceConditions: conditions(c, "x-amz-copy-source-"), Conditions: cond}
	switch d := c.Get("x-amz-metadata-directive"); d {
	case "", "COPY":
	case "REPLACE":
		meta, err := userMetadata(c)
		if err != nil {
			return in, err
		}
		in.ReplaceMetadata, in.ContentType, in.CacheControl, in.UserMetadata = true, c.Get(fiber.HeaderContentType), c.Get(fiber.HeaderCacheControl), meta
		in.Extra = extraHeaders(c)
	default:
		return in, errorf(400, "InvalidArgument", "Unknown metadata directive.")
	}
	switch d := c.Get("x-amz-tagging-directive"); d {
	case "", "COPY":
	case "REPLACE":
		tags, err := taggingHeader(c.Get("x-amz-tagging"))
		if err != nil {
			return in, err
		}
		in.ReplaceTags, in.Extra.Tags = true, tags
	default:
		return in, errorf(400, "InvalidArgument", "Unknown tagging directive.")
	}
	// Copying a named version onto its key restores it (S3 allows that without changes).
	if in.SrcBucket == in.DstBucket && in.SrcKey == in.DstKey && !in.ReplaceMetadata && !in.ReplaceTags && in.SrcVersionID == "" {
		return in, errorf(400, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	return in, nil
}
