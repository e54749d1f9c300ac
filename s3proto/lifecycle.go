package s3proto

import (
	"encoding/xml"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// lifecycleConfiguration is the Put/GetBucketLifecycleConfiguration document.
type lifecycleConfiguration struct {
	XMLName xml.Name        `xml:"LifecycleConfiguration"`
	Xmlns   string          `xml:"xmlns,attr,omitempty"`
	Rules   []lifecycleRule `xml:"Rule"`
}

type lifecycleFilter struct {
	Prefix *string `xml:"Prefix"`
	Tag    *tag    `xml:"Tag"`
	And    *struct {
		Prefix string `xml:"Prefix,omitempty"`
		Tags   []tag  `xml:"Tag"`
	} `xml:"And"`
}

type lifecycleRule struct {
	ID         string           `xml:"ID,omitempty"`
	Prefix     *string          `xml:"Prefix"` // the legacy place of the prefix
	Filter     *lifecycleFilter `xml:"Filter"`
	Status     string           `xml:"Status"`
	Expiration *struct {
		Days                      int    `xml:"Days,omitempty"`
		Date                      string `xml:"Date,omitempty"`
		ExpiredObjectDeleteMarker bool   `xml:"ExpiredObjectDeleteMarker,omitempty"`
	} `xml:"Expiration"`
	NoncurrentVersionExpiration *struct {
		NoncurrentDays          int `xml:"NoncurrentDays,omitempty"`
		NewerNoncurrentVersions int `xml:"NewerNoncurrentVersions,omitempty"`
	} `xml:"NoncurrentVersionExpiration"`
	AbortIncompleteMultipartUpload *struct {
		DaysAfterInitiation int `xml:"DaysAfterInitiation"`
	} `xml:"AbortIncompleteMultipartUpload"`
	Transition                  *struct{} `xml:"Transition"`
	NoncurrentVersionTransition *struct{} `xml:"NoncurrentVersionTransition"`
}

var errTransition = errorf(501, "NotImplemented", "Lifecycle transitions are not supported: Stowage has one storage class")

// toRule reads one rule of the document.
func (r lifecycleRule) toRule() (gateway.LifecycleRule, error) {
	out := gateway.LifecycleRule{ID: r.ID}
	switch r.Status {
	case "Enabled":
		out.Enabled = true
	case "Disabled":
	default:
		return out, errMalformedXML
	}
	if r.Transition != nil || r.NoncurrentVersionTransition != nil {
		return out, errTransition
	}
	if r.Prefix != nil {
		out.Prefix = *r.Prefix
	}
	if f := r.Filter; f != nil {
		switch {
		case f.And != nil:
			out.Prefix = f.And.Prefix
			for _, t := range f.And.Tags {
				out.Tags = append(out.Tags, gateway.Tag{Key: t.Key, Value: t.Value})
			}
		case f.Tag != nil:
			out.Tags = []gateway.Tag{{Key: f.Tag.Key, Value: f.Tag.Value}}
		case f.Prefix != nil:
			out.Prefix = *f.Prefix
		}
	}
	if x := r.Expiration; x != nil {
		out.ExpirationDays, out.ExpiredObjectDeleteMarker = x.Days, x.ExpiredObjectDeleteMarker
		if x.Date != "" {
			d, err := time.Parse(time.RFC3339, x.Date)
			if err != nil {
				return out, errorf(400, "InvalidArgument", "'Date' must be an ISO 8601 date at midnight UTC")
			}
			out.ExpirationDate = &d
		}
	}
	if n := r.NoncurrentVersionExpiration; n != nil {
		out.NoncurrentDays, out.NewerNoncurrentVersions = n.NoncurrentDays, n.NewerNoncurrentVersions
	}
	if a := r.AbortIncompleteMultipartUpload; a != nil {
		out.AbortDays = a.DaysAfterInitiation
	}
	return out, nil
}

// putBucketLifecycle replaces the bucket's lifecycle rules.
func (h *Handler) putBucketLifecycle(c *fiber.Ctx, req *request) error {
	var body lifecycleConfiguration
	if err := h.readXMLBody(c, req, &body); err != nil {
		return err
	}
	rules := make([]gateway.LifecycleRule, 0, len(body.Rules))
	for _, r := range body.Rules {
		rule, err := r.toRule()
		if err != nil {
			return err
		}
		rules = append(rules, rule)
	}
	if err := h.engine.SetBucketLifecycle(c.UserContext(), h.caller(c, req), req.bucket, rules); err != nil {
		return err
	}
	return empty200(c)
}

// getBucketLifecycle answers the rules; NoSuchLifecycleConfiguration without any.
func (h *Handler) getBucketLifecycle(c *fiber.Ctx, req *request) error {
	rules, err := h.engine.BucketLifecycle(c.UserContext(), h.caller(c, req), req.bucket)
	if err != nil {
		return err
	}
	out := lifecycleConfiguration{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/"}
	for _, r := range rules {
		x := lifecycleRule{ID: r.ID, Status: "Disabled", Filter: &lifecycleFilter{}}
		if r.Enabled {
			x.Status = "Enabled"
		}
		switch {
		case len(r.Tags) == 1 && r.Prefix == "":
			x.Filter.Tag = &tag{Key: r.Tags[0].Key, Value: r.Tags[0].Value}
		case len(r.Tags) > 0:
			x.Filter.And = &struct {
				Prefix string `xml:"Prefix,omitempty"`
				Tags   []tag  `xml:"Tag"`
			}{Prefix: r.Prefix}
			for _, t := range r.Tags {
				x.Filter.And.Tags = append(x.Filter.And.Tags, tag{Key: t.Key, Value: t.Value})
			}
		default:
			p := r.Prefix
			x.Filter.Prefix = &p
		}
		if r.ExpirationDays > 0 || r.ExpirationDate != nil || r.ExpiredObjectDeleteMarker {
			x.Expiration = &struct {
				Days                      int    `xml:"Days,omitempty"`
				Date                      string `xml:"Date,omitempty"`
				ExpiredObjectDeleteMarker bool   `xml:"ExpiredObjectDeleteMarker,omitempty"`
			}{Days: r.ExpirationDays, ExpiredObjectDeleteMarker: r.ExpiredObjectDeleteMarker}
			if r.ExpirationDate != nil {
				x.Expiration.Date = r.ExpirationDate.UTC().Format("2006-01-02T15:04:05.000Z")
			}
		}
		if r.NoncurrentDays > 0 {
			x.NoncurrentVersionExpiration = &struct {
				NoncurrentDays          int `xml:"NoncurrentDays,omitempty"`
				NewerNoncurrentVersions int `xml:"NewerNoncurrentVersions,omitempty"`
			}{r.NoncurrentDays, r.NewerNoncurrentVersions}
		}
		if r.AbortDays > 0 {
			x.AbortIncompleteMultipartUpload = &struct {
				DaysAfterInitiation int `xml:"DaysAfterInitiation"`
			}{r.AbortDays}
		}
		out.Rules = append(out.Rules, x)
	}
	return writeXML(c, fiber.StatusOK, out)
}

// deleteBucketLifecycle removes the rules: 204.
func (h *Handler) deleteBucketLifecycle(c *fiber.Ctx, req *request) error {
	if err := h.engine.SetBucketLifecycle(c.UserContext(), h.caller(c, req), req.bucket, nil); err != nil {
		return err
	}
	return noContent(c)
}
