package s3proto

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// listBuckets answers the buckets the caller may see (RLS SELECT on buckets) in name
// order, a page of max-buckets (1..10000, default 10000) at a time, as S3: prefix filters,
// continuation-token resumes after the previous page.
func (h *Handler) listBuckets(c *fiber.Ctx, req *request) error {
	in := gateway.BucketPage{Prefix: req.query.Get("prefix"), Limit: gateway.MaxListBuckets}
	if req.query.Has("max-buckets") {
		n, err := strconv.Atoi(req.query.Get("max-buckets"))
		if err != nil || n < 1 || n > gateway.MaxListBuckets {
			return errorf(400, "InvalidArgument", "Argument max-buckets must be an integer between 1 and 10000.")
		}
		in.Limit = n
	}
	token := req.query.Get("continuation-token")
	if token != "" {
		after, err := decodeBucketToken(token)
		if err != nil {
			return err
		}
		in.After = after
	}
	page, err := h.engine.ListBucketPage(c.UserContext(), h.caller(c, req), in)
	if err != nil {
		return err
	}
	out := listAllMyBucketsResult{Buckets: make([]bucketEntry, len(page.Buckets)), Prefix: in.Prefix}
	for i, b := range page.Buckets {
		out.Buckets[i] = bucketEntry{Name: b.Name, CreationDate: isoTime(b.CreatedAt)}
	}
	if page.IsTruncated {
		out.ContinuationToken = encodeBucketToken(page.NextAfter)
	}
	if c.Method() == fiber.MethodHead {
		return nil
	}
	return writeXML(c, fiber.StatusOK, out)
}

// ListBuckets continuation tokens are opaque to clients: base64 of "b:<last name>".
func encodeBucketToken(after string) string {
	return base64.StdEncoding.EncodeToString([]byte("b:" + after))
}

func decodeBucketToken(tok string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(tok)
	after, ok := strings.CutPrefix(string(raw), "b:")
	if err != nil || !ok || len(tok) > 1024 {
		return "", errorf(400, "InvalidArgument", "The continuation token provided is incorrect")
	}
	return after, nil
}

// createBucket creates a bucket; x-amz-acl: public-read makes it public (acl.go).
// A CreateBucketConfiguration body is read (its signature checked); every bucket lives in
// the one region, whatever its LocationConstraint. New names follow S3's rules. Re-creating a
// bucket the caller owns is 409 BucketAlreadyOwnedByYou, except in us-east-1, where S3 keeps
// its legacy 200 for a create that asks for us-east-1 (no other LocationConstraint).
func (h *Handler) createBucket(c *fiber.Ctx, req *request) error {
	body, err := h.readSmallBody(c, req)
	if err != nil {
		return err
	}
	public, _, err := cannedACL(c, false)
	if err != nil {
		return err
	}
	// An unreadable body is ignored as before: only the constraint matters here.
	var conf struct {
		LocationConstraint string `xml:"LocationConstraint"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		_ = decodeXML(body, &conf)
	}
	legacy := h.region() == "us-east-1" && (conf.LocationConstraint == "" || conf.LocationConstraint == "us-east-1")
	_, err = h.engine.CreateBucket(c.UserContext(), h.caller(c, req), gateway.CreateBucket{ID: req.bucket,
		Public: public, FileSizeLimit: gateway.NoLimit, S3Names: true})
	if err != nil && !(gateway.CodeOf(err) == gateway.CodeBucketAlreadyOwnedByYou && legacy) {
		return err
	}
	c.Set(fiber.HeaderLocation, "/"+req.bucket)
	return empty200(c)
}

// deleteBucket removes a bucket without objects, aborting its unfinished uploads as S3
// does: 204, or 409 BucketNotEmpty.
func (h *Handler) deleteBucket(c *fiber.Ctx, req *request) error {
	if err := h.engine.DeleteBucket(c.UserContext(), h.caller(c, req), req.bucket, gateway.DeleteBucketOptions{AbortUploads: true}); err != nil {
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
