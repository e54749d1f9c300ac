package server

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are Stowage's Prometheus series. Labels take bounded values only: dialect, route
// template, method, status; never bucket, key or user.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
	// renderCache counts /render/image answers by X-Render-Cache (hit, miss).
	renderCache *prometheus.CounterVec
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_http_requests_total",
			Help: "HTTP requests by dialect, route, method and status code."}, []string{"dialect", "route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stowage_http_request_duration_seconds",
			Help: "Time to handle a request (streamed response bodies may finish later).", Buckets: prometheus.DefBuckets},
			[]string{"dialect", "route", "method"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_http_request_body_bytes_total",
			Help: "Declared request body bytes."}, []string{"dialect", "route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_http_response_body_bytes_total",
			Help: "Response body bytes."}, []string{"dialect", "route"}),
	}
	m.renderCache = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stowage_render_cache_requests_total",
		Help: "Image transformations answered from the render cache (hit) or rendered (miss)."}, []string{"result"})
	reg.MustRegister(m.requests, m.duration, m.bytesIn, m.bytesOut, m.renderCache,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(dialect, method, route string, status int, d time.Duration, in, out int64) {
	m.requests.WithLabelValues(dialect, route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(dialect, route, method).Observe(d.Seconds())
	m.bytesIn.WithLabelValues(dialect, route).Add(float64(in))
	m.bytesOut.WithLabelValues(dialect, route).Add(float64(out))
}

func (m *metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}
