package s3proto

import (
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// getObjectTagging answers the tags of a visible object.
func (h *Handler) getObjectTagging(c *fiber.Ctx, req *request) error {
	obj, err := h.engine.HeadObject(c.UserContext(), h.caller(c, req), req.bucket, req.key, false)
	if err != nil {
		return err
	}
	out := tagging{Xmlns: ns, TagSet: make([]tag, len(obj.Extra.Tags))}
	for i, t := range obj.Extra.Tags {
		out.TagSet[i] = tag{Key: t.Key, Value: t.Value}
	}
	return writeXML(c, fiber.StatusOK, out)
}

// putObjectTagging replaces an object's tags. Only the tags change, never the object (the
// reference overwrites the object with the XML body here).
func (h *Handler) putObjectTagging(c *fiber.Ctx, req *request) error {
	var body tagging
	if err := h.readXMLBody(c, req, &body); err != nil {
		return err
	}
	tags := make([]gateway.Tag, len(body.TagSet))
	for i, t := range body.TagSet {
		tags[i] = gateway.Tag{Key: t.Key, Value: t.Value}
	}
	if err := validTags(tags, gateway.MaxTags); err != nil {
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
	out := tagging{Xmlns: ns, TagSet: make([]tag, len(tags))}
	for i, t := range tags {
		out.TagSet[i] = tag{Key: t.Key, Value: t.Value}
	}
	return writeXML(c, fiber.StatusOK, out)
}

// putBucketTagging replaces a bucket's tags (at most 50): 204, as S3.
func (h *Handler) putBucketTagging(c *fiber.Ctx, req *request) error {
	var body tagging
	if err := h.readXMLBody(c, req, &body); err != nil {
		return err
	}
	tags := make([]gateway.Tag, len(body.TagSet))
	for i, t := range body.TagSet {
		tags[i] = gateway.Tag{Key: t.Key, Value: t.Value}
	}
	if err := validTags(tags, gateway.MaxBucketTags); err != nil {
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
