// Package cdn is the CDN purge dialect: the reference's DELETE /cdn routes (rest-api.md §9)
// and the client that forwards each purge to an external purge service
// (CDN_PURGE_ENDPOINT_URL). It stores nothing: Stowage has no CDN of its own, it tells the
// one in front of it what to forget.
package cdn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Type is what a purge covers: the reference's six purge types.
type Type string

// The purge types, spelled as the reference's purge service receives them.
const (
	TypeObject           Type = "object"
	TypeBucket           Type = "bucket"
	TypeTenant           Type = "tenant"
	TypeObjectTransforms Type = "object-transforms"
	TypeBucketTransforms Type = "bucket-transforms"
	TypeTenantTransforms Type = "tenant-transforms"
)

// Request is one purge. Bucket is sent for the bucket and object types, Object for the
// object types.
type Request struct {
	Type   Type
	Tenant string
	Bucket string
	Object string
}

// Timeout is how long a purge may take, the reference's CDN_PURGE_TIMEOUT_MS (10 s).
const Timeout = 10 * time.Second

// maxDrain bounds how much of the purge service's answer is read to keep its connection
// reusable; the answer itself is never used.
const maxDrain = 64 << 10

// ErrNotConfigured is Purge's answer when CDN_PURGE_ENDPOINT_URL is not set.
var ErrNotConfigured = errors.New("cdn: CDN_PURGE_ENDPOINT_URL is not set")

// ErrPurgeFailed wraps every failure to purge: the service unreachable, slow past Timeout,
// or answering anything but 2xx.
var ErrPurgeFailed = errors.New("cdn: purge failed")

// Options configure a Purger.
type Options struct {
	// Endpoint is CDN_PURGE_ENDPOINT_URL; empty: purging is not configured.
	Endpoint string
	// Key is CDN_PURGE_ENDPOINT_KEY, sent as a Bearer token when set.
	Key string
	// Client sends the requests (a client with Timeout when nil).
	Client *http.Client
}

// Purger posts purges to <Endpoint>/purge as the reference does.
type Purger struct {
	url    string // empty: not configured
	key    string
	client *http.Client
}

// NewPurger returns a Purger; an Endpoint that is not an absolute http(s) URL is an error.
func NewPurger(opts Options) (*Purger, error) {
	p := &Purger{key: opts.Key, client: opts.Client}
	if p.client == nil {
		p.client = &http.Client{Timeout: Timeout}
	}
	if opts.Endpoint == "" {
		return p, nil
	}
	u, err := PurgeURL(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	p.url = u
	return p, nil
}

// PurgeURL is where purges of endpoint go: its path with "/purge" appended (no doubled
// slash), without query or fragment, as the reference resolves it.
func PurgeURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("CDN_PURGE_ENDPOINT_URL=%q: want an http or https URL", endpoint)
	}
	if strings.HasSuffix(u.Path, "/") {
		u.Path += "purge"
	} else {
		u.Path += "/purge"
	}
	u.RawPath = ""
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String(), nil
}

// Configured reports whether purges go anywhere.
func (p *Purger) Configured() bool { return p != nil && p.url != "" }

// body is the reference's purge request: type, tenant ref, then bucketId and objectName
// when the type names them.
type body struct {
	Type       Type    `json:"type"`
	Tenant     tenant  `json:"tenant"`
	BucketID   *string `json:"bucketId,omitempty"`
	ObjectName *string `json:"objectName,omitempty"`
}

type tenant struct {
	Ref string `json:"ref"`
}

// Purge asks the purge service to forget r. It fails with ErrNotConfigured without an
// endpoint and with ErrPurgeFailed (wrapping the cause) when the service does not answer
// 2xx within Timeout.
func (p *Purger) Purge(ctx context.Context, r Request) error {
	if !p.Configured() {
		return ErrNotConfigured
	}
	b := body{Type: r.Type, Tenant: tenant{Ref: r.Tenant}}
	switch r.Type {
	case TypeObject, TypeObjectTransforms:
		b.BucketID, b.ObjectName = &r.Bucket, &r.Object
	case TypeBucket, TypeBucketTransforms:
		b.BucketID = &r.Bucket
	case TypeTenant, TypeTenantTransforms:
	default:
		return fmt.Errorf("cdn: unknown purge type %q", r.Type)
	}
	// JSON.stringify's bytes: & < > stay as they are.
	var data bytes.Buffer
	enc := json.NewEncoder(&data)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return err
	}
	data.Truncate(data.Len() - 1) // Encode's newline
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, &data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPurgeFailed, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.key != "" {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPurgeFailed, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: request failed with status code %d", ErrPurgeFailed, resp.StatusCode)
	}
	return nil
}

// BucketPurger returns the purge of a bucket that stopped being public (rest.Options.
// PurgeBucket), or nil when purging is not configured. The purge runs detached from the
// request, bounded by Timeout: the bucket update has committed and is answered at once,
// and a failed purge is logged, not reported (the reference's "best effort").
func (p *Purger) BucketPurger(tenant string, log *slog.Logger) func(ctx context.Context, bucket string) {
	if !p.Configured() {
		return nil
	}
	return func(ctx context.Context, bucket string) {
		ctx = context.WithoutCancel(ctx)
		go func() {
			if err := p.Purge(ctx, Request{Type: TypeBucket, Tenant: tenant, Bucket: bucket}); err != nil {
				log.WarnContext(ctx, "cdn purge of a bucket made private failed", "bucket", bucket, "err", err)
			}
		}()
	}
}
