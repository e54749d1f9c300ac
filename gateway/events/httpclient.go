package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/stowage/stowage/db"
)

// HTTPClient posts deliveries to webhook receivers. Without a proxy in the environment it
// uses fasthttp's client: a delivery is one POST, made from the attempt's own goroutine
// with pooled request and response objects, where net/http's client hands every request to
// two goroutines of its connection and allocates its request, headers and response anew.
// That was half of what delivering an event cost the gateway (docs/events.md, run 6). With
// HTTP_PROXY, HTTPS_PROXY or ALL_PROXY set (any case) it uses net/http's client, which
// honours them as before; so does a nil *HTTPClient (http.DefaultClient).
// fasthttp speaks HTTP/1.1 only and follows no redirect itself. A 307 or 308 (which keep the
// method and body) is posted again through net/http's client, which follows it; a 301, 302
// or 303 has not acknowledged the event and it is retried: following it would send the
// event on as a GET without its body, as net/http's client did (docs/compatibility.md).
type HTTPClient struct {
	std     *http.Client
	fast    *fasthttp.Client
	timeout time.Duration
}

// maxAckBody bounds what is read of a receiver's answer. A 2xx answer is an acknowledgement
// however long its body: a longer one is not read to its end (the connection is closed).
const maxAckBody = 64 << 10

// NewHTTPClient returns the client webhook targets share: timeout bounds one delivery, and
// enough idle connections per receiver are kept for the in-flight deliveries (net/http's
// default of 2 closed the others after each request, so every delivery paid for a new
// connection).
func NewHTTPClient(timeout time.Duration, inFlight int) *HTTPClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(inFlight, 2)
	t.MaxIdleConns = max(t.MaxIdleConns, 4*t.MaxIdleConnsPerHost)
	c := &HTTPClient{std: &http.Client{Timeout: timeout, Transport: t, CheckRedirect: keepMethod}, timeout: timeout}
	if !proxyInEnv() {
		c.fast = &fasthttp.Client{
			Name:                   "Stowage",
			ReadTimeout:            timeout,
			WriteTimeout:           timeout,
			MaxResponseBodySize:    maxAckBody,
			DisablePathNormalizing: true,
		}
	}
	return c
}

// StdHTTPClient returns a client that posts with c (net/http), as with a proxy configured.
// c's CheckRedirect is replaced by the one of NewHTTPClient's clients.
func StdHTTPClient(c *http.Client) *HTTPClient {
	std := *c
	std.CheckRedirect = keepMethod
	return &HTTPClient{std: &std, timeout: c.Timeout}
}

// defaultStd is the client of a nil *HTTPClient.
var defaultStd = &http.Client{CheckRedirect: keepMethod}

// keepMethod lets net/http follow only redirects that keep the POST and its body (307, 308),
// at most ten; for any other the client returns that answer, which is not an acknowledgement.
func keepMethod(req *http.Request, via []*http.Request) error {
	if req.Method != http.MethodPost || len(via) >= 10 {
		return http.ErrUseLastResponse
	}
	return nil
}

// proxyInEnv reports whether net/http's ProxyFromEnvironment may send a request through a
// proxy (NO_PROXY only narrows that down, so it is not looked at).
func proxyInEnv() bool {
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"} {
		if os.Getenv(k) != "" || os.Getenv(strings.ToLower(k)) != "" {
			return true
		}
	}
	return false
}

// post sends body and treats any 2xx answer as the acknowledgement.
func (c *HTTPClient) post(ctx context.Context, target, bearer string, d db.Delivery, body []byte) error {
	if c == nil || c.fast == nil {
		std := defaultStd
		if c != nil {
			std = c.std
		}
		return postStd(ctx, std, target, bearer, d, body)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := time.Now().Add(c.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer func() { fasthttp.ReleaseRequest(req); fasthttp.ReleaseResponse(resp) }()
	req.SetRequestURI(target)
	req.Header.SetMethod(http.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set(IdempotencyHeader, d.EventID)
	req.Header.Set("X-Stowage-Event-Attempt", strconv.Itoa(d.Attempts))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.SetBodyRaw(body)
	err := c.fast.DoDeadline(req, resp, deadline)
	status := resp.StatusCode()
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge) && status/100 == 2:
		return nil // acknowledged; the rest of its answer is not wanted
	case err != nil:
		return fmt.Errorf("post %s: %w", target, err)
	case status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect:
		return postStd(ctx, c.std, target, bearer, d, body)
	case status/100 != 2:
		return ackError(status, resp.Body())
	}
	return nil
}

// postStd is post with net/http's client. It follows 307 and 308 (up to ten, with the
// body); a 301, 302 or 303 is not followed (see HTTPClient).
func postStd(ctx context.Context, c *http.Client, target, bearer string, d db.Delivery, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(IdempotencyHeader, d.EventID)
	req.Header.Set("X-Stowage-Event-Attempt", strconv.Itoa(d.Attempts))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode/100 != 2 {
		return ackError(resp.StatusCode, msg)
	}
	return nil
}

// ackError is the error of a receiver's answer that is not an acknowledgement.
func ackError(status int, msg []byte) error {
	if len(msg) > maxErrorBody {
		msg = msg[:maxErrorBody]
	}
	return fmt.Errorf("receiver answered %d: %s", status, strings.TrimSpace(string(msg)))
}
