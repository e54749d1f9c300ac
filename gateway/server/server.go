// Package server builds the fiber applications: listeners, middleware (request id, access
// log, metrics, recover), operational routes and the dialects' mounts.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/stowage/stowage/console/traffic"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/rest"
	"github.com/stowage/stowage/s3proto"
)

// Options configure the server.
type Options struct {
	Version string
	// HeaderTimeout bounds reading request headers (slow clients holding connections).
	HeaderTimeout time.Duration
	// RequestTimeout bounds a whole request body and a whole response body.
	RequestTimeout time.Duration
	IdleTimeout    time.Duration
	RequestIDHdr   string
	Metrics        bool
	Logger         *slog.Logger
	// PrefetchLimit is how much of a body fasthttp may buffer before handing the rest over
	// as a stream; it is NOT a size limit (limits are enforced while streaming).
	PrefetchLimit int
	// S3, when set, serves the S3 dialect under /s3 (and at the root of NewS3's app).
	S3 *s3proto.Handler
	// Render, when set, mounts /render/image (rest/render) beside the REST routes.
	Render interface{ Register(fiber.Router) }
	// TUS, when set, mounts the resumable upload routes (rest/tus) beside the REST routes.
	TUS interface{ Register(fiber.Router) }
	// CDN, when set, mounts the /cdn purge routes (package cdn) beside the REST routes.
	CDN interface{ Register(fiber.Router) }
	// Console, when set, mounts the web console and the storage report (console) at /console.
	Console interface{ Register(fiber.Router) }
	// Traffic, when set, is fed every request for the storage report.
	Traffic *traffic.Recorder
	// Collectors are more metrics /metrics serves (the event dispatcher's).
	Collectors []prometheus.Collector
}

// s3Prefix is where the main app serves S3.
const s3Prefix = "/s3"

// isS3Path reports whether a main-app path belongs to the S3 dialect.
func isS3Path(p string) bool { return p == s3Prefix || strings.HasPrefix(p, s3Prefix+"/") }

// Server is the HTTP front of the engine.
type Server struct {
	App     *fiber.App
	engine  *gateway.Engine
	opts    Options
	metrics *metrics
	s3Only  bool // the S3 listener: every request is the S3 dialect
	// dbDown is what /status last found: true after a failed ping, until one succeeds.
	dbDown atomic.Bool
	// dialect labels every request of this listener when set (the admin listener).
	dialect string
}

// New builds the main application: REST at the root and under /storage/v1, plus /status,
// /version, /health and /metrics.
func New(e *gateway.Engine, restHandler *rest.Handler, opts Options) *Server {
	s := newServer(e, opts)
	app := s.newApp(s.mainErrors())
	app.Get("/status", s.status)
	app.Get("/version", func(c *fiber.Ctx) error { return c.SendString(opts.Version) })
	if opts.Metrics {
		app.Get("/metrics", s.metrics.handler())
	}
	mountDialects(app, restHandler, opts)
	s.App = app
	return s
}

// mountDialects serves the dialects opts and restHandler name on app (the main app's
// routes; a tenant's app in multi-tenant mode).
func mountDialects(app *fiber.App, restHandler *rest.Handler, opts Options) {
	if opts.S3 != nil {
		opts.S3.Mount(app, s3Prefix)
	}
	if opts.TUS != nil {
		opts.TUS.Register(app)
		opts.TUS.Register(app.Group("/storage/v1"))
	}
	restHandler.Register(app)
	restHandler.Register(app.Group("/storage/v1"))
	if opts.Render != nil {
		opts.Render.Register(app)
		opts.Render.Register(app.Group("/storage/v1"))
	}
	if opts.CDN != nil {
		opts.CDN.Register(app)
		opts.CDN.Register(app.Group("/storage/v1"))
	}
	if opts.Console != nil {
		opts.Console.Register(app)
	}
}

// mainErrors is the main app's error handler: S3 XML under /s3, the REST envelope elsewhere.
func (s *Server) mainErrors() fiber.ErrorHandler {
	restErrors := rest.ErrorHandler(s.opts.Logger)
	if s.opts.S3 == nil {
		return restErrors
	}
	return func(c *fiber.Ctx, err error) error {
		if isS3Path(c.Path()) {
			return s.opts.S3.ErrorHandler(c, err)
		}
		return restErrors(c, err)
	}
}

// NewS3 builds the S3 listener's application: the S3 dialect at the root (path- and
// virtual-hosted-style), with the same middleware as the main app. opts.S3 must be set.
func NewS3(e *gateway.Engine, opts Options) *Server {
	s := newServer(e, opts)
	s.s3Only = true
	app := s.newApp(opts.S3.ErrorHandler)
	opts.S3.MountRoot(app)
	s.App = app
	return s
}

// Time limits used when Options leave them zero: the configuration's defaults. Zero never
// means "unlimited" (a client could hold a connection forever), and a zero request timeout
// must not leave a body to the header timeout's few seconds.
const (
	defaultHeaderTimeout  = 65 * time.Second
	defaultRequestTimeout = time.Hour
	defaultIdleTimeout    = 61 * time.Second
)

func newServer(e *gateway.Engine, opts Options) *Server {
	if opts.PrefetchLimit <= 0 {
		opts.PrefetchLimit = 1 << 20
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = defaultHeaderTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = defaultRequestTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = defaultIdleTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := newMetrics()
	m.reg.MustRegister(opts.Collectors...)
	return &Server{engine: e, opts: opts, metrics: m}
}

// newApp returns a fiber app with streaming bodies, timeouts and the middleware.
func (s *Server) newApp(errorHandler fiber.ErrorHandler) *fiber.App {
	app := s.newBareApp(errorHandler)
	app.Use(s.recoverPanics, s.requestContext, s.observe)
	return app
}

// newBareApp returns a fiber app with streaming bodies and timeouts, without middleware.
func (s *Server) newBareApp(errorHandler fiber.ErrorHandler) *fiber.App {
	opts := s.opts
	app := fiber.New(fiber.Config{
		AppName:                      "stowage",
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    opts.PrefetchLimit,
		ReadBufferSize:               16 << 10, // request line + headers cap
		WriteBufferSize:              8 << 10,  // a small object and its headers in one write
		ReadTimeout:                  opts.HeaderTimeout,
		WriteTimeout:                 opts.RequestTimeout,
		IdleTimeout:                  opts.IdleTimeout,
		DisableStartupMessage:        true,
		DisableKeepalive:             false,
		ErrorHandler:                 errorHandler,
	})
	// The header timeout guards against slow-header clients; once headers are in, the body
	// may take as long as the request timeout allows.
	app.Server().HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
		return fasthttp.RequestConfig{ReadTimeout: opts.RequestTimeout}
	}
	return app
}

// status answers 200 when the database answers, 503 otherwise. Load balancers poll it
// several times a second: it logs when the answer changes, not on every poll (an outage
// once wrote 212k identical warnings).
func (s *Server) status(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.engine.Ping(ctx); err != nil {
		if !s.dbDown.Swap(true) {
			s.opts.Logger.Warn("status: database unreachable", "err", err)
		}
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "database": "unreachable"})
	}
	if s.dbDown.Swap(false) {
		s.opts.Logger.Info("status: database reachable again")
	}
	return c.SendStatus(fiber.StatusOK)
}

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the request id stored in ctx.
func RequestID(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey).(string)
	return v
}

// requestContext builds the request's context. fasthttp's RequestCtx is cancelled only at
// shutdown, so it is never used as the request context.
func (s *Server) requestContext(c *fiber.Ctx) error {
	id := ""
	if s.opts.RequestIDHdr != "" {
		id = c.Get(s.opts.RequestIDHdr)
	}
	if id == "" || len(id) > 128 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set("X-Request-Id", id)
	// The engine records the id in events (payload.reqId), and the host a proxy named in
	// X-Forwarded-Host as tenant.host, as the reference does in every mode (a copy:
	// fasthttp reuses the header's buffer).
	ctx := gateway.WithRequestID(context.WithValue(context.Background(), requestIDKey, id), id)
	if h := c.Request().Header.Peek("X-Forwarded-Host"); len(h) > 0 {
		ctx = gateway.WithTenantHost(ctx, string(h))
	}
	c.SetUserContext(ctx)
	return c.Next()
}

// recoverPanics turns a panic into the dialect's InternalError instead of a dropped
// connection.
func (s *Server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.opts.Logger.Error("panic", "request_id", RequestID(c.UserContext()), "panic", fmt.Sprint(r))
			err = &gateway.Error{Code: gateway.CodeInternal, Err: fmt.Errorf("panic: %v", r)}
		}
	}()
	return c.Next()
}

// observe writes the access line and the metrics of each request.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	// fiber's strings point into fasthttp buffers reused by the next request; metrics keep
	// their labels, so they get copies.
	method := strings.Clone(c.Method())
	dialect := s.dialectOf(c.Path())
	if s.dialect != "" {
		dialect = s.dialect
	}
	bytesIn := int64(c.Request().Header.ContentLength())
	if bytesIn < 0 {
		bytesIn = 0
	}
	bytesOut := int64(c.Response().Header.ContentLength())
	if bytesOut <= 0 && !c.Response().IsBodyStream() {
		bytesOut = int64(len(c.Response().Body())) // set on the wire only after the handler
	}
	if bytesOut < 0 {
		bytesOut = 0
	}
	dur := time.Since(start)
	s.metrics.observe(dialect, method, route, status, dur, bytesIn, bytesOut)
	s.recordTraffic(c, dialect, method, route, status, dur, bytesIn, bytesOut)
	s.opts.Logger.LogAttrs(c.UserContext(), slog.LevelInfo, "request",
		slog.String("request_id", RequestID(c.UserContext())), slog.String("dialect", dialect),
		slog.String("method", method), slog.String("route", route), slog.Int("status", status),
		slog.Int64("bytes_in", bytesIn), slog.Int64("bytes_out", bytesOut),
		slog.Float64("duration_ms", float64(dur.Microseconds())/1000))
	return nil
}

// Listen serves on addr until Shutdown.
func (s *Server) Listen(ln net.Listener) error {
	err := s.App.Listener(ln)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits up to the context's deadline for
// in-flight requests to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.App.ShutdownWithContext(ctx)
}

// Addr formats host:port.
func Addr(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
