package s3proto

import (
	"encoding/xml"

	"github.com/gofiber/fiber/v2"
)

// probeAnswer is what S3 answers for a read of a bucket sub-resource that was never
// configured: a document, or an error (most configurations answer 404 with their own code).
type probeAnswer struct {
	body any
	err  *s3Error
}

type emptyDoc struct {
	XMLName xml.Name
}

func empty(root string) emptyDoc { return emptyDoc{XMLName: xml.Name{Space: ns, Local: root}} }

// probeAnswers maps each sub-resource of bucketProbes to S3's answer for an unconfigured
// bucket; ?acl is built per request (it names the owner).
var probeAnswers = map[string]probeAnswer{
	"cors":                {err: errorf(404, "NoSuchCORSConfiguration", "The CORS configuration does not exist")},
	"policy":              {err: errorf(404, "NoSuchBucketPolicy", "The bucket policy does not exist")},
	"policyStatus":        {err: errorf(404, "NoSuchBucketPolicy", "The bucket policy does not exist")},
	"lifecycle":           {err: errorf(404, "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist")},
	"encryption":          {err: errorf(404, "ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found")},
	"tagging":             {err: errorf(404, "NoSuchTagSet", "The TagSet does not exist")},
	"object-lock":         {err: errorf(404, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")},
	"website":             {err: errorf(404, "NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration")},
	"logging":             {body: empty("BucketLoggingStatus")},
	"notification":        {body: empty("NotificationConfiguration")},
	"replication":         {err: errorf(404, "ReplicationConfigurationNotFoundError", "The replication configuration was not found")},
	"ownershipControls":   {err: errorf(404, "OwnershipControlsNotFoundError", "The bucket ownership controls were not found")},
	"publicAccessBlock":   {err: errorf(404, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")},
	"accelerate":          {body: empty("AccelerateConfiguration")},
	"requestPayment":      {body: requestPayment{Payer: "BucketOwner"}},
	"analytics":           {body: empty("ListBucketAnalyticsConfigurationResult")},
	"metrics":             {body: empty("ListMetricsConfigurationsResult")},
	"inventory":           {body: empty("ListInventoryConfigurationsResult")},
	"intelligent-tiering": {body: empty("ListBucketIntelligentTieringConfigurationsOutput")},
}

type requestPayment struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ RequestPaymentConfiguration"`
	Payer   string   `xml:"Payer"`
}

// getBucketProbe answers a configuration read of a visible bucket.
func (h *Handler) getBucketProbe(c *fiber.Ctx, req *request) error {
	if _, err := h.engine.GetBucket(c.UserContext(), h.caller(c, req), req.bucket); err != nil {
		return err
	}
	for _, name := range bucketProbes {
		if a, ok := probeAnswers[name]; ok && req.query.Has(name) {
			if a.err != nil {
				return a.err
			}
			return writeXML(c, fiber.StatusOK, a.body)
		}
	}
	return errNotImplemented
}

// ownerACL is S3's default ACL: the owner has FULL_CONTROL.
func ownerACL(ownerID string) accessControlPolicy {
	var g grant
	g.Grantee.XMLNS = "http://www.w3.org/2001/XMLSchema-instance"
	g.Grantee.Type = "CanonicalUser"
	g.Grantee.ID = ownerID
	g.Permission = "FULL_CONTROL"
	return accessControlPolicy{Owner: owner{ID: ownerID}, Grants: []grant{g}}
}
