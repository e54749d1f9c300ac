package s3proto

import (
	"encoding/xml"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// notificationConfiguration is S3's NotificationConfiguration document. Only queue
// configurations are kept: Stowage's targets are webhooks named by ARN in the
// configuration (MinIO's arn:minio:sqs::NAME:webhook); topics and functions are refused.
type notificationConfiguration struct {
	XMLName  xml.Name             `xml:"NotificationConfiguration"`
	Xmlns    string               `xml:"xmlns,attr,omitempty"`
	Queues   []queueConfiguration `xml:"QueueConfiguration"`
	Topics   []struct{}           `xml:"TopicConfiguration"`
	Lambdas  []struct{}           `xml:"CloudFunctionConfiguration"`
	EventBus *struct{}            `xml:"EventBridgeConfiguration"`
}

type queueConfiguration struct {
	ID     string       `xml:"Id,omitempty"`
	Filter *notifFilter `xml:"Filter,omitempty"`
	Queue  string       `xml:"Queue"`
	Events []string     `xml:"Event"`
}

type notifFilter struct {
	Rules []filterRule `xml:"S3Key>FilterRule"`
}

type filterRule struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

// getBucketNotification answers the bucket's configuration (empty when none), as S3.
func (h *Handler) getBucketNotification(c *fiber.Ctx, req *request) error {
	cfg, err := h.engine.BucketNotification(c.UserContext(), h.caller(c, req), req.bucket)
	if err != nil {
		return err
	}
	out := notificationConfiguration{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/"}
	for _, r := range cfg.Rules {
		q := queueConfiguration{ID: r.ID, Queue: r.ARN, Events: r.Events}
		if r.Prefix != "" || r.Suffix != "" {
			q.Filter = &notifFilter{}
			if r.Prefix != "" {
				q.Filter.Rules = append(q.Filter.Rules, filterRule{Name: "prefix", Value: r.Prefix})
			}
			if r.Suffix != "" {
				q.Filter.Rules = append(q.Filter.Rules, filterRule{Name: "suffix", Value: r.Suffix})
			}
		}
		out.Queues = append(out.Queues, q)
	}
	return writeXML(c, fiber.StatusOK, out)
}

// putBucketNotification replaces the bucket's configuration; an empty document removes it.
func (h *Handler) putBucketNotification(c *fiber.Ctx, req *request) error {
	var body notificationConfiguration
	if err := h.readXMLBody(c, req, &body); err != nil {
		return err
	}
	invalid := func(msg string) error {
		return &gateway.Error{Code: gateway.CodeInvalidArgument, Bucket: req.bucket, Message: msg}
	}
	if len(body.Topics) > 0 || len(body.Lambdas) > 0 || body.EventBus != nil {
		return invalid("Only QueueConfiguration with webhook targets (arn:minio:sqs::NAME:webhook) is supported")
	}
	var cfg gateway.NotificationConfig
	for _, q := range body.Queues {
		r := gateway.NotificationRule{ID: q.ID, ARN: strings.TrimSpace(q.Queue), Events: q.Events}
		if q.Filter != nil {
			for _, f := range q.Filter.Rules {
				switch strings.ToLower(f.Name) {
				case "prefix":
					r.Prefix = f.Value
				case "suffix":
					r.Suffix = f.Value
				default:
					return invalid("filter rule name must be either prefix or suffix")
				}
			}
		}
		cfg.Rules = append(cfg.Rules, r)
	}
	if err := h.engine.SetBucketNotification(c.UserContext(), h.caller(c, req), req.bucket, cfg); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusOK)
}
