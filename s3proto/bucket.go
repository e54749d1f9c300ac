package s3proto

import (
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// listBuckets answers every bucket the caller may see (RLS SELECT on buckets).
func (h *Handler) listBuckets(c *fiber.Ctx, req *request) error {
	buckets, err := h.engine.ListBuckets(c.UserContext(), h.caller(c, req), gateway.ListBuckets{SortColumn: "name"})
	if err != nil {
		return err
	}
	out := listAllMyBucketsResult{Buckets: make([]bucketEntry, len(buckets))}
	for i, b := range buckets {
		out.Buckets[i] = bucketEntry{Name: b.Name, CreationDate: isoTime(b.CreatedAt)}
	}
	if c.Method() == fiber.MethodHead {
		return nil
	}
	return writeXML(c, fiber.StatusOK, out)
}

// createBucket creates a bucket; x-amz-acl: public-read makes it public (acl.go).
// A CreateBucketConfiguration body is read (its signature checked) and ignored.
func (h *Handler) createBucket(c *fiber.Ctx, req *request) error {
	if _, err := h.readSmallBody(c, req); err != nil {
		return err
	}
	public, _, err := cannedACL(c, false)
	if err != nil {
		return err
	}
	_, err = h.engine.CreateBucket(c.UserContext(), h.caller(c, req), gateway.CreateBucket{ID: req.bucket,
		Public: public, FileSizeLimit: gateway.NoLimit})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, "/"+req.bucket)
	return empty200(c)
}

// deleteBucket removes an empty bucket: 204, or 409 BucketNotEmpty.
func (h *Handler) deleteBucket(c *fiber.Ctx, req *request) error {
	if err := h.engine.DeleteBucket(c.UserContext(), h.caller(c, req), req.bucket); err != nil {
		return err
	}
	return noContent(c)
}

// headBucket answers 200 with the region when the caller may see the bucket.
func (h *Handler) headBucket(c *fiber.Ctx, req *request) error {
	if _, err := h.engine.GetBucket(c.UserContext(), h.caller(c, req), req.bucket); err != nil {
		return err
	}
	c.Set("x-amz-bucket-region", h.region())
	return empty200(c)
}

func (h *Handler) region() string {
	if h.opts.Region == "" {
		return "us-east-1"
	}
	return h.opts.Region
}

// getBucketLocation answers the region; us-east-1 is an empty constraint, as in S3.
func (h *Handler) getBucketLocation(c *fiber.Ctx, req *request) error {
	if _, err := h.engine.GetBucket(c.UserContext(), h.caller(c, req), req.bucket); err != nil {
		return err
	}
	region := h.region()
	if region == "us-east-1" {
		region = ""
	}
	return writeXML(c, fiber.StatusOK, locationConstraint{Region: region})
}

// getBucketVersioning answers S3's document for a never-versioned bucket: no Status.
// Deviation: the reference answers Suspended, which makes rclone purge list versions and fail.
func (h *Handler) getBucketVersioning(c *fiber.Ctx, req *request) error {
	if _, err := h.engine.GetBucket(c.UserContext(), h.caller(c, req), req.bucket); err != nil {
		return err
	}
	return writeXML(c, fiber.StatusOK, versioningConfiguration{})
}
