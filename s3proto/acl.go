package s3proto

import (
	"encoding/xml"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// Stowage's access model is the bucket's public flag plus RLS, so ACLs map onto it:
// a public bucket is the owner's FULL_CONTROL plus AllUsers READ, a private one the owner's
// FULL_CONTROL alone, and every object has its bucket's ACL. An ACL that cannot be expressed
// that way (grants to others, write access for everyone) is 501 NotImplemented and changes
// nothing.

const allUsersURI = "http://acs.amazonaws.com/groups/global/AllUsers"

var (
	errACLNotImplemented = errorf(501, "NotImplemented", "Only the canned ACLs private and public-read (and bucket-owner-read, bucket-owner-full-control on objects) are supported: access is the bucket's public flag.")
	errObjectACL         = errorf(501, "NotImplemented", "An object has its bucket's ACL: public-read needs a public bucket, and an object of a public bucket cannot be made private.")
	errBadCannedACL      = errorf(400, "InvalidArgument", "The x-amz-acl header value is not a canned ACL.")
)

// cannedACL reads x-amz-acl and refuses x-amz-grant-*: public is whether the request asks
// for public read, set whether it asks for anything. bucket-owner-* grant the bucket's owner,
// who owns the object already; they are accepted where object (not bucket) says so.
func cannedACL(c *fiber.Ctx, object bool) (public, set bool, err error) {
	grants := false
	c.Request().Header.VisitAll(func(k, _ []byte) {
		if strings.HasPrefix(strings.ToLower(string(k)), "x-amz-grant-") {
			grants = true
		}
	})
	if grants {
		return false, false, errACLNotImplemented
	}
	return parseCannedACL(c.Get("x-amz-acl"), object)
}

// parseCannedACL reads a canned ACL (the x-amz-acl header, or PostObject's acl field) as
// cannedACL does.
func parseCannedACL(v string, object bool) (public, set bool, err error) {
	switch v {
	case "":
		return false, false, nil
	case "private":
		return false, true, nil
	case "public-read":
		return true, true, nil
	case "bucket-owner-read", "bucket-owner-full-control":
		if object {
			return false, false, nil
		}
		return false, false, errACLNotImplemented
	case "public-read-write", "authenticated-read", "aws-exec-read", "log-delivery-write":
		return false, false, errACLNotImplemented
	default:
		return false, false, errBadCannedACL
	}
}

// checkObjectACL answers whether an object write's x-amz-acl can be honoured: private is
// accepted (the object keeps its bucket's access; clients such as rclone send it by default),
// public-read only in a public bucket.
func (h *Handler) checkObjectACL(c *fiber.Ctx, req *request) error {
	public, _, err := cannedACL(c, true)
	return h.checkObjectPublic(c, req, public, err)
}

// checkObjectPublic finishes checkObjectACL for an ACL already read: public needs a public
// bucket.
func (h *Handler) checkObjectPublic(c *fiber.Ctx, req *request, public bool, err error) error {
	if err != nil || !public {
		return err
	}
	b, err := h.engine.GetBucketAsService(c.UserContext(), h.caller(c, req), req.bucket)
	if err != nil {
		return err
	}
	if !b.Public {
		return errObjectACL
	}
	return nil
}

// bucketACL is the ACL of a bucket (and of its objects): the owner's FULL_CONTROL, and
// AllUsers READ when it is public.
func bucketACL(ownerID string, public bool) accessControlPolicy {
	acl := ownerACL(ownerID)
	if public {
		var g grant
		g.Grantee.XMLNS = "http://www.w3.org/2001/XMLSchema-instance"
		g.Grantee.Type = "Group"
		g.Grantee.URI = allUsersURI
		g.Permission = "READ"
		acl.Grants = append(acl.Grants, g)
	}
	return acl
}

// aclOwner is the owner an ACL names: the bucket's owner, else the caller.
func aclOwner(b gateway.Bucket, req *request) string {
	if b.OwnerID != "" {
		return b.OwnerID
	}
	if b.Owner != "" {
		return b.Owner
	}
	return req.principal.Sub
}

// getBucketACL answers a visible bucket's ACL.
func (h *Handler) getBucketACL(c *fiber.Ctx, req *request) error {
	b, err := h.engine.GetBucket(c.UserContext(), h.caller(c, req), req.bucket)
	if err != nil {
		return err
	}
	return writeXML(c, fiber.StatusOK, bucketACL(aclOwner(b, req), b.Public))
}

// aclInput is an AccessControlPolicy body as clients send it.
type aclInput struct {
	Grants []struct {
		Grantee struct {
			Type  string `xml:"type,attr"`
			ID    string `xml:"ID"`
			URI   string `xml:"URI"`
			Email string `xml:"EmailAddress"`
		} `xml:"Grantee"`
		Permission string `xml:"Permission"`
	} `xml:"AccessControlList>Grant"`
}

// requestedACL reads the ACL a Put*Acl asks for, from x-amz-acl or an AccessControlPolicy
// body: public or not. A body may grant only the owner (FULL_CONTROL) and AllUsers (READ).
func (h *Handler) requestedACL(c *fiber.Ctx, req *request, object bool) (bool, error) {
	data, err := h.readSmallBody(c, req)
	if err != nil {
		return false, err
	}
	public, set, err := cannedACL(c, object)
	if err != nil || set {
		return public, err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		if object && c.Get("x-amz-acl") != "" {
			return false, nil // bucket-owner-*: nothing to change
		}
		return false, errorf(400, "MissingSecurityHeader", "Your request was missing a required header")
	}
	var in aclInput
	if err := xml.Unmarshal(data, &in); err != nil {
		return false, errMalformedXML
	}
	for _, g := range in.Grants {
		switch {
		case g.Grantee.URI == allUsersURI && g.Permission == "READ":
			public = true
		case g.Grantee.URI == "" && g.Grantee.Email == "" && g.Permission == "FULL_CONTROL":
			// The owner (S3 would check the ID names the owner; Stowage has one owner).
		default:
			return false, errACLNotImplemented
		}
	}
	return public, nil
}

// putBucketACL sets a bucket's public flag from a canned ACL or an ACL body; the caller must
// be allowed to update the bucket, as for the REST API's bucket update.
func (h *Handler) putBucketACL(c *fiber.Ctx, req *request) error {
	public, err := h.requestedACL(c, req, false)
	if err != nil {
		return err
	}
	if _, err := h.engine.UpdateBucket(c.UserContext(), h.caller(c, req), req.bucket,
		gateway.UpdateBucket{Public: gateway.Opt[bool]{Set: true, Value: public}}); err != nil {
		return err
	}
	return empty200(c)
}

// getObjectACL answers a visible object's ACL: its bucket's.
func (h *Handler) getObjectACL(c *fiber.Ctx, req *request) error {
	obj, err := h.engine.HeadObject(c.UserContext(), h.caller(c, req), req.bucket, req.key, false)
	if err != nil {
		return err
	}
	b, err := h.engine.GetBucketAsService(c.UserContext(), h.caller(c, req), req.bucket)
	if err != nil {
		return err
	}
	return writeXML(c, fiber.StatusOK, bucketACL(obj.OwnerID, b.Public))
}

// putObjectACL accepts an ACL equal to the one the object has (its bucket's) and answers
// NotImplemented for any other.
func (h *Handler) putObjectACL(c *fiber.Ctx, req *request) error {
	public, err := h.requestedACL(c, req, true)
	if err != nil {
		return err
	}
	if _, err := h.engine.HeadObject(c.UserContext(), h.caller(c, req), req.bucket, req.key, false); err != nil {
		return err
	}
	b, err := h.engine.GetBucketAsService(c.UserContext(), h.caller(c, req), req.bucket)
	if err != nil {
		return err
	}
	// x-amz-acl private (or bucket-owner-*) is accepted as on PutObject; a body asking for
	// private in a public bucket is not.
	if public && !b.Public || !public && b.Public && c.Get("x-amz-acl") == "" {
		return errObjectACL
	}
	return empty200(c)
}
