package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/cdn"
	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/events"
)

// notifyARN is the ARN under which bucket notification configurations name target name,
// as MinIO names its webhook targets.
func notifyARN(name string) string { return "arn:minio:sqs::" + name + ":webhook" }

// s3NotifyTargets parses STOWAGE_NOTIFY_WEBHOOKS (checked by validateEvents).
func (c *Config) s3NotifyTargets() map[string]string {
	out := map[string]string{}
	for item := range strings.SplitSeq(c.S3NotifyTargets, ",") {
		name, u, ok := strings.Cut(strings.TrimSpace(item), "=")
		if ok {
			out[strings.TrimSpace(name)] = strings.TrimSpace(u)
		}
	}
	return out
}

// s3NotifyTokens parses STOWAGE_NOTIFY_WEBHOOK_TOKENS (checked by validateEvents): the
// Bearer token of each named S3 notification target.
func (c *Config) s3NotifyTokens() map[string]string {
	out := map[string]string{}
	for item := range strings.SplitSeq(string(c.S3NotifyTokens), ",") {
		name, tok, ok := strings.Cut(strings.TrimSpace(item), "=")
		if ok {
			out[strings.TrimSpace(name)] = strings.TrimSpace(tok)
		}
	}
	return out
}

// eventsEnabled reports whether any event target is configured: only then does the engine
// record events.
func (c *Config) eventsEnabled() bool {
	return c.WebhookURL != "" || c.EventsNotify != "" || strings.TrimSpace(c.S3NotifyTargets) != "" || c.autoPurge()
}

// autoPurge reports whether changes to public objects are purged from the CDN.
func (c *Config) autoPurge() bool { return c.CDNAutoPurge && c.CDNPurgeURL != "" }

func (c *Config) validateEvents() []error {
	var errs []error
	httpURL := func(s string) bool {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	}
	if c.WebhookURL != "" && !httpURL(c.WebhookURL) {
		errs = append(errs, fmt.Errorf("WEBHOOK_URL=%q: want an http or https URL", c.WebhookURL))
	}
	if strings.TrimSpace(c.S3NotifyTargets) != "" {
		for item := range strings.SplitSeq(c.S3NotifyTargets, ",") {
			name, u, ok := strings.Cut(strings.TrimSpace(item), "=")
			name = strings.TrimSpace(name)
			if !ok || name == "" || strings.ContainsAny(name, ":/ ") || !httpURL(strings.TrimSpace(u)) {
				errs = append(errs, fmt.Errorf("STOWAGE_NOTIFY_WEBHOOKS: %q: want NAME=http(s)://URL", item))
			}
		}
	}
	if strings.TrimSpace(string(c.S3NotifyTokens)) != "" {
		targets := c.s3NotifyTargets()
		for item := range strings.SplitSeq(string(c.S3NotifyTokens), ",") {
			name, tok, ok := strings.Cut(strings.TrimSpace(item), "=")
			name = strings.TrimSpace(name)
			// The token itself is never printed: only the target's name. An entry without
			// "=" may be a bare token, so it is not printed at all.
			if !ok {
				errs = append(errs, errors.New("STOWAGE_NOTIFY_WEBHOOK_TOKENS: an entry without \"=\": want NAME=TOKEN with NAME a target of STOWAGE_NOTIFY_WEBHOOKS"))
			} else if _, known := targets[name]; !known || strings.TrimSpace(tok) == "" {
				errs = append(errs, fmt.Errorf("STOWAGE_NOTIFY_WEBHOOK_TOKENS: entry for %q: want NAME=TOKEN with NAME a target of STOWAGE_NOTIFY_WEBHOOKS", name))
			}
		}
	}
	if c.CDNAutoPurge && c.CDNPurgeURL == "" {
		errs = append(errs, errors.New("STOWAGE_CDN_AUTO_PURGE=true: needs CDN_PURGE_ENDPOINT_URL"))
	}
	if c.EventsNotify != "" && (len(c.EventsNotify) > 63 || strings.ContainsAny(c.EventsNotify, "\x00")) {
		errs = append(errs, fmt.Errorf("STOWAGE_EVENTS_NOTIFY_CHANNEL=%q: at most 63 bytes", c.EventsNotify))
	}
	for name, v := range map[string]int{"WEBHOOK_REQUEST_TIMEOUT": c.WebhookTimeout, "WEBHOOK_QUEUE_PULL_INTERVAL": c.EventsPoll,
		"STOWAGE_EVENTS_IN_FLIGHT": c.EventsInFlight, "STOWAGE_EVENTS_MAX_ATTEMPTS": c.EventsMaxAttempts,
		"STOWAGE_EVENTS_MAX_AGE": c.EventsMaxAge, "STOWAGE_EVENTS_BACKOFF": c.EventsBackoff,
		"STOWAGE_EVENTS_BACKOFF_MAX": c.EventsBackoffMax, "STOWAGE_EVENTS_RETENTION": c.EventsRetention,
		"STOWAGE_EVENTS_TENANT_SWEEP": c.EventsTenantSweep} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s=%d: must be at least 1", name, v))
		}
	}
	return errs
}

// dispatcher builds the event dispatcher of cfg's targets; nil when none is configured.
func dispatcher(cfg Config, d *db.DB, log *slog.Logger) *events.Dispatcher {
	if !cfg.eventsEnabled() {
		return nil
	}
	return events.New(dispatcherOptions(cfg, d, eventsHTTPClient(cfg), log))
}

// eventsHTTPClient is the client of cfg's webhook targets (one per gateway: in
// multi-tenant mode every tenant's dispatcher shares it and its idle connections).
func eventsHTTPClient(cfg Config) *events.HTTPClient {
	return events.NewHTTPClient(time.Duration(cfg.WebhookTimeout)*time.Millisecond, cfg.EventsInFlight)
}

// dispatcherOptions are the options of a dispatcher of cfg's targets over d's outbox (the
// one database in single-tenant mode, cfg.TenantID's in multi-tenant mode).
func dispatcherOptions(cfg Config, d *db.DB, client *events.HTTPClient, log *slog.Logger) events.Options {
	timeout := time.Duration(cfg.WebhookTimeout) * time.Millisecond
	opts := events.Options{DB: d, Scope: db.Scope{Role: cfg.DBServiceRole}, S3Targets: map[string]events.Target{},
		Poll: time.Duration(cfg.EventsPoll) * time.Millisecond, InFlight: cfg.EventsInFlight,
		MaxAttempts: cfg.EventsMaxAttempts, MaxAge: time.Duration(cfg.EventsMaxAge) * time.Second,
		BackoffBase: time.Duration(cfg.EventsBackoff) * time.Millisecond, BackoffMax: time.Duration(cfg.EventsBackoffMax) * time.Millisecond,
		Lease: 2*timeout + 30*time.Second, Retention: time.Duration(cfg.EventsRetention) * time.Second, Logger: log}
	if cfg.WebhookURL != "" {
		opts.Targets = append(opts.Targets, &events.Webhook{URL: cfg.WebhookURL, APIKey: string(cfg.WebhookAPIKey), Client: client})
	}
	if cfg.EventsNotify != "" {
		opts.Targets = append(opts.Targets, &events.Notify{DB: d, Channel: cfg.EventsNotify})
	}
	tokens := cfg.s3NotifyTokens()
	for name, u := range cfg.s3NotifyTargets() {
		arn := notifyARN(name)
		opts.S3Targets[arn] = &events.S3Webhook{ARN: arn, URL: u, Region: cfg.Region, AuthToken: tokens[name], Client: client}
	}
	if cfg.autoPurge() {
		opts.Purge = purgeTarget(cfg)
	}
	return opts
}

// purgeTarget is the automatic CDN purge of cfg: the object, and its rendered variants
// when image transformation is on.
func purgeTarget(cfg Config) *events.Purge {
	// The endpoint was validated at start (CDN_PURGE_ENDPOINT_URL).
	purger, err := cdn.NewPurger(cdn.Options{Endpoint: cfg.CDNPurgeURL, Key: string(cfg.CDNPurgeKey)})
	if err != nil {
		return nil
	}
	purge := func(typ cdn.Type) func(ctx context.Context, bucket, name string) error {
		return func(ctx context.Context, bucket, name string) error {
			return purger.Purge(ctx, cdn.Request{Type: typ, Tenant: cfg.TenantID, Bucket: bucket, Object: name})
		}
	}
	p := &events.Purge{Object: purge(cdn.TypeObject)}
	if cfg.ImageTransform || cfg.ImgproxyURL != "" {
		p.Transforms = purge(cdn.TypeObjectTransforms)
	}
	return p
}

// notificationARNs are the ARNs bucket notification configurations may name.
func (c *Config) notificationARNs() []string {
	var out []string
	for name := range c.s3NotifyTargets() {
		out = append(out, notifyARN(name))
	}
	sort.Strings(out)
	return out
}

// eventsCommand runs `stowage events dead [LIMIT]` and `stowage events redrive all|ID...`.
func eventsCommand(ctx context.Context, cfg Config, args []string, log *slog.Logger, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "dead" && args[0] != "redrive") || (args[0] == "redrive" && len(args) < 2) {
		return errors.New("usage: stowage events dead [LIMIT] | stowage events redrive all|EVENT_SEQ...")
	}
	var ids []int64
	limit := 100
	for _, a := range args[1:] {
		if a == "all" && args[0] == "redrive" {
			continue
		}
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("stowage events %s: %q is not a number", args[0], a)
		}
		ids, limit = append(ids, n), int(n)
	}
	d, stop, err := database(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stop()
	scope := db.Scope{Role: cfg.DBServiceRole}
	if args[0] == "redrive" {
		n, err := d.RedriveDeliveries(ctx, scope, ids)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "re-driven: %d\n", n)
		return nil
	}
	dead, err := d.DeadDeliveries(ctx, scope, limit)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "seq\tevent_id\ttype\tobject\ttarget\tattempts\tlast_error")
	for _, x := range dead {
		fmt.Fprintf(stdout, "%d\t%s\t%s\t%s/%s\t%s\t%d\t%s\n", x.ID, x.EventID, x.Type, x.BucketID, x.Name, x.Target, x.Attempts, x.LastError)
	}
	return nil
}
