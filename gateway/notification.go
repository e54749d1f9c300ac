package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/stowage/stowage/db"
)

// NotificationConfig is a bucket's S3 notification configuration: rules that send
// matching events to webhook targets named by ARN (configured by name at start, like
// MinIO's arn:minio:sqs::NAME:webhook).
type NotificationConfig struct {
	Rules []NotificationRule `json:"rules"`
}

// NotificationRule is one QueueConfiguration: its events (s3:ObjectCreated:*, ...) and
// key filter.
type NotificationRule struct {
	ID     string   `json:"id"`
	ARN    string   `json:"arn"`
	Events []string `json:"events"`
	Prefix string   `json:"prefix,omitempty"`
	Suffix string   `json:"suffix,omitempty"`
}

// NotificationEvents are the event names a rule may name.
var NotificationEvents = []string{"s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post",
	"s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*",
	"s3:ObjectRemoved:Delete", "s3:ObjectTagging:*", "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete"}

// Limits of a notification configuration (S3 allows 100 rules).
const (
	MaxNotificationRules  = 100
	maxNotificationFilter = 1024
)

// Matches reports whether an event named s3Name (S3's name without "s3:") on key is one
// the rule sends.
func (r NotificationRule) Matches(s3Name, key string) bool {
	if !strings.HasPrefix(key, r.Prefix) || !strings.HasSuffix(key, r.Suffix) {
		return false
	}
	for _, ev := range r.Events {
		ev = strings.TrimPrefix(ev, "s3:")
		if ev == s3Name {
			return true
		}
		if family, ok := strings.CutSuffix(ev, ":*"); ok && strings.HasPrefix(s3Name, family+":") {
			return true
		}
	}
	return false
}

// validate checks cfg against the configured targets.
func (e *Engine) validateNotification(bucket string, cfg NotificationConfig) error {
	bad := func(msg string) error { return &Error{Code: CodeInvalidArgument, Bucket: bucket, Message: msg} }
	if len(cfg.Rules) > MaxNotificationRules {
		return bad("A notification configuration holds at most 100 rules")
	}
	ids := map[string]bool{}
	for _, r := range cfg.Rules {
		if !slices.Contains(e.opts.NotificationARNs, r.ARN) {
			return bad("A specified destination ARN does not exist or is not well-formed; verify the destination ARN: " + r.ARN)
		}
		if len(r.Events) == 0 {
			return bad("A rule must name at least one event")
		}
		for _, ev := range r.Events {
			if !slices.Contains(NotificationEvents, ev) {
				return bad("The event is not supported for notifications: " + ev)
			}
		}
		if len(r.Prefix) > maxNotificationFilter || len(r.Suffix) > maxNotificationFilter || len(r.ID) > 255 {
			return bad("A filter value or rule id is too long")
		}
		if r.ID != "" && ids[r.ID] {
			return bad("Configurations overlap: rule ids must be unique")
		}
		ids[r.ID] = true
	}
	return nil
}

// BucketNotification returns a bucket's notification configuration (no rules when it has
// none). The caller must see the bucket.
func (e *Engine) BucketNotification(ctx context.Context, c Caller, bucket string) (NotificationConfig, error) {
	var cfg NotificationConfig
	err := e.readBucketSetting(ctx, c, bucket, func(stx db.Tx) error {
		raw, err := stx.BucketNotificationConfigs(ctx, []string{bucket})
		if err == nil && raw[bucket] != nil {
			err = json.Unmarshal(raw[bucket], &cfg)
		}
		return err
	})
	return cfg, err
}

// SetBucketNotification replaces a bucket's notification configuration (no rules removes
// it). As for bucket tags, the caller must see the bucket and may update it under RLS.
func (e *Engine) SetBucketNotification(ctx context.Context, c Caller, bucket string, cfg NotificationConfig) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	if err := e.validateNotification(bucket, cfg); err != nil {
		return err
	}
	var value json.RawMessage
	if len(cfg.Rules) > 0 {
		value, _ = json.Marshal(cfg)
	}
	return e.writeBucketSetting(ctx, c, bucket, func(stx db.Tx) error {
		return stx.SetBucketNotificationConfig(ctx, bucket, value)
	})
}
