package s3proto

import (
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// getObjectTagging answers the tags of a visible object.
func (h *Handler) getObjectTagging(c *fiber.Ctx, req *request) error {
	versionID, err := queryVersionID(req)
	if err != nil {
		return err
	}
	obj, err := h.engine.HeadVersion(c.UserContext(), h.caller(c, req), req.bucket, req.key, versionID)
	if err != nil {
		return err
	}
	setVersionID(c, obj)
	return writeXML(c, fiber.StatusOK, taggingXML(obj.Extra.Tags))
}

// putObjectTagging replaces an object's tags. Only the tags change, never the object (the
// reference overwrites the object with the XML body here).
func (h *Handler) putObjectTagging(c *fiber.Ctx, req *request) error {
	tags, err := h.readTagging(c, req, gateway.MaxTags)
	if err != nil {
		return err
	}
	if _, err := h.engine.SetObjectTags(c.UserContext(), h.caller(c, req), req.bucket, req.key, tags); err != nil {
		return err
	}
	return empty200(c)
}

// deleteObjectTagging removes an object's tags: 204.
func (h *Handler) deleteObjectTagging(c *fiber.Ctx, req *request) error {
	if _, err := h.engine.SetObjectTags(c.UserContext(), h.caller(c, req), req.bucket, req.key, nil); err != nil {
		return err
	}
	return noContent(c)
}

var errNoSuchTagSet = errorf(404, "NoSuchTagSet", "The TagSet does not exist")

// getBucketTagging answers a visible bucket's tags, 404 NoSuchTagSet when it has none.
func (h *Handler) getBucketTagging(c *fiber.Ctx, req *request) error {
	tags, err := h.engine.BucketTags(c.UserContext(), h.caller(c, req), req.bucket)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return errNoSuchTagSet
	}
	return writeXML(c, fiber.StatusOK, taggingXML(tags))
}

// putBucketTagging replaces a bucket's tags (at most 50): 204, as S3.
func (h *Handler) putBucketTagging(c *fiber.Ctx, req *request) error {
	tags, err := h.readTagging(c, req, gateway.MaxBucketTags)
	if err != nil {
		return err
	}
	if err := h.engine.SetBucketTags(c.UserContext(), h.caller(c, req), req.bucket, tags); err != nil {
		return err
	}
	return noContent(c)
}

// deleteBucketTagging removes a bucket's tags: 204.
func (h *Handler) deleteBucketTagging(c *fiber.Ctx, req *request) error {
	if err := h.engine.SetBucketTags(c.UserContext(), h.caller(c, req), req.bucket, nil); err != nil {
		return err
	}
	return noContent(c)
}

// readTagging reads a Tagging body and checks it against S3's tag rules (at most max tags).
func (h *Handler) readTagging(c *fiber.Ctx, req *request, max int) ([]gateway.Tag, error) {
	var body tagging
	if err := h.readXMLBody(c, req, &body); err != nil {
		return nil, err
	}
	tags := make([]gateway.Tag, len(body.TagSet))
	for i, t := range body.TagSet {
		tags[i] = gateway.Tag{Key: t.Key, Value: t.Value}
	}
	return tags, validTags(tags, max)
}

// taggingXML renders tags as a Tagging document.
func taggingXML(tags []gateway.Tag) tagging {
	out := tagging{Xmlns: ns, TagSet: make([]tag, len(tags))}
	for i, t := range tags {
		out.TagSet[i] = tag{Key: t.Key, Value: t.Value}
	}
	return out
}
