package server

import (
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/console/traffic"
)

// dialectOf names the part of the server that answered a main-app path: the report counts
// requests per dialect (bounded values: traffic.Dialects).
func (s *Server) dialectOf(p string) string {
	p = strings.TrimPrefix(p, "/storage/v1")
	switch {
	case s.s3Only || (s.opts.S3 != nil && isS3Path(p)):
		return "s3"
	case strings.HasPrefix(p, "/upload/resumable"):
		return "tus"
	case strings.HasPrefix(p, "/render/"):
		return "render"
	case p == "/console" || strings.HasPrefix(p, "/console/"):
		return "console"
	case p == "/status" || p == "/metrics" || p == "/version" || p == "/health":
		return "ops"
	}
	return "rest"
}

// recordTraffic feeds the storage report (and the render cache counter) with a finished
// request. The bucket and key come from the route's parameters, or for S3 from the path.
func (s *Server) recordTraffic(c *fiber.Ctx, dialect, method, route string, status int, d time.Duration, in, out int64) {
	cache := string(c.Response().Header.Peek("X-Render-Cache"))
	if cache == "hit" || cache == "miss" {
		s.metrics.renderCache.WithLabelValues(cache).Inc()
	}
	if s.opts.Traffic == nil {
		return
	}
	bucket, key := c.Params("bucket"), c.Params("*")
	switch {
	case dialect == "s3":
		p := strings.TrimPrefix(c.Path(), s3Prefix+"/")
		if s.s3Only {
			p = strings.TrimPrefix(c.Path(), "/")
		}
		bucket, key, _ = strings.Cut(p, "/")
	case dialect == "tus" && c.Params("id") != "":
		if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c.Params("id"), "=")); err == nil {
			bucket, key, _ = strings.Cut(string(raw), "/")
			key = key[:max(strings.LastIndex(key, "/"), 0)] // drop the version
		}
	}
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	if b, err := url.PathUnescape(bucket); err == nil {
		bucket = b
	}
	s.opts.Traffic.Record(traffic.Event{Dialect: dialect, Method: method, Route: route, Status: status, Duration: d,
		BytesIn: in, BytesOut: out, Bucket: strings.Clone(bucket), Key: strings.Clone(key), RenderCache: cache})
}
