package server

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/tenants"
	"github.com/stowage/stowage/rest"
)

// TenantStack serves one tenant in multi-tenant mode: its engine (own database pool, bytes
// under the tenant's id) and the dialects over it, mounted on fiber apps without middleware
// (the front app's middleware already ran for the request).
type TenantStack struct {
	Engine *gateway.Engine
	main   fasthttp.RequestHandler // the main listener's routes (REST, TUS, /s3, ...)
	s3     fasthttp.RequestHandler // the S3 listener's routes (S3 at the root); nil without S3
	close  func()
	// imageTransformation is the tenant's feature flag: off, /render answers
	// FeatureNotEnabled.
	imageTransformation bool
}

// isRenderPath reports whether a main-app path is an image transformation route.
func isRenderPath(p string) bool {
	return strings.HasPrefix(p, "/render/") || strings.HasPrefix(p, "/storage/v1/render/")
}

// WithImageTransformation records the tenant's image transformation flag.
func (st *TenantStack) WithImageTransformation(on bool) *TenantStack {
	st.imageTransformation = on
	return st
}

// NewTenantStack mounts the dialects opts and restHandler name, as New does for the single
// tenant; close releases what the stack holds (its pool, its sweeper) once it is retired.
func NewTenantStack(e *gateway.Engine, restHandler *rest.Handler, opts Options, close func()) *TenantStack {
	s := newServer(e, opts)
	main := s.newBareApp(s.mainErrors())
	main.Use(s.recoverPanics, inheritContext, renderErrors)
	mountDialects(main, restHandler, opts)
	st := &TenantStack{Engine: e, main: main.Handler(), close: close}
	if opts.S3 != nil {
		s3 := s.newBareApp(opts.S3.ErrorHandler)
		s3.Use(s.recoverPanics, inheritContext, renderErrors)
		opts.S3.MountRoot(s3)
		st.s3 = s3.Handler()
	}
	if st.close == nil {
		st.close = func() {}
	}
	return st
}

// renderErrors renders a handler's error with the tenant app's error handler, inside the
// tenant app (the front app's access log then sees the status written).
func renderErrors(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	return nil
}

// userContextKey is where the front app leaves the request's context for the tenant app.
const userContextKey = "stowage.userContext"

// inheritContext gives the tenant app's request the context the front app built (request
// id, cancellation).
func inheritContext(c *fiber.Ctx) error {
	if ctx, ok := c.Context().UserValue(userContextKey).(context.Context); ok {
		c.SetUserContext(ctx)
	}
	return c.Next()
}

// TenantOptions configure multi-tenant serving.
type TenantOptions struct {
	// HostRegexp picks the tenant id out of X-Forwarded-Host: its first capture group
	// (REQUEST_X_FORWARDED_HOST_REGEXP). Required.
	HostRegexp *regexp.Regexp
	// Source gives tenants; its Changed notifications retire cached stacks.
	Source tenants.Source
	// Build makes a tenant's stack (opens its pool, migrates its database). An error other
	// than tenants.ErrNotFound answers the dialect's "database unavailable" and is tried
	// again on the tenant's next request.
	Build func(ctx context.Context, t *tenants.Tenant) (*TenantStack, error)
	// MaxStacks bounds the stacks (one database pool each) kept at once; the least
	// recently used one is retired past it. 0 means DefaultMaxTenantStacks.
	MaxStacks int
	// IdleTimeout retires a stack unused this long (its pool closed); 0 means
	// DefaultTenantIdleTimeout.
	IdleTimeout time.Duration
	Logger      *slog.Logger
}

// Defaults of TenantOptions.
const (
	DefaultMaxTenantStacks   = 100
	DefaultTenantIdleTimeout = 5 * time.Minute
)

// Tenants is the cache of tenant stacks multi-tenant listeners dispatch to.
type Tenants struct {
	opts TenantOptions
	mu   sync.Mutex
	m    map[string]*stackEntry
	// gen counts Changed notifications per tenant id ("" counts for all): a stack built
	// from a tenant read before a notification is not kept.
	gen     map[string]uint64
	genAll  uint64
	stop    chan struct{}
	stopped sync.Once
	now     func() time.Time
}

type stackEntry struct {
	id    string
	ready chan struct{} // closed when stack or err is set
	stack *TenantStack
	err   error
	// Guarded by Tenants.mu:
	inFlight int
	lastUsed time.Time
	retired  bool // out of the map; closed when inFlight reaches 0
	closed   bool
}

// NewTenants starts the cache (and its idle janitor, stopped by Close).
func NewTenants(opts TenantOptions) *Tenants {
	if opts.MaxStacks <= 0 {
		opts.MaxStacks = DefaultMaxTenantStacks
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultTenantIdleTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ts := &Tenants{opts: opts, m: map[string]*stackEntry{}, gen: map[string]uint64{}, stop: make(chan struct{}),
		now: time.Now}
	if opts.Source != nil {
		opts.Source.Changed(ts.changed)
	}
	go ts.janitor()
	return ts
}

// changed retires the stack of id (every stack for ""): the next request rebuilds it from
// the tenant as it is now (a rotated JWT secret, a new database URL).
func (ts *Tenants) changed(id string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if id == "" {
		ts.genAll++
		for _, e := range ts.m {
			ts.retireLocked(e)
		}
		return
	}
	ts.gen[id]++
	if e := ts.m[id]; e != nil {
		ts.retireLocked(e)
	}
}

func (ts *Tenants) generationLocked(id string) uint64 { return ts.gen[id] + ts.genAll }

// retireLocked takes e out of the map; its stack closes once no request uses it.
func (ts *Tenants) retireLocked(e *stackEntry) {
	if ts.m[e.id] == e {
		delete(ts.m, e.id)
	}
	e.retired = true
	ts.closeIfDoneLocked(e)
}

func (ts *Tenants) closeIfDoneLocked(e *stackEntry) {
	if !e.retired || e.inFlight > 0 || e.closed {
		return
	}
	select {
	case <-e.ready:
	default:
		return // still building: acquire closes it when the build ends
	}
	e.closed = true
	if e.stack != nil {
		go e.stack.close()
	}
}

// acquire returns the tenant's stack, building it on first use; release must be called
// when the request is done with it.
func (ts *Tenants) acquire(ctx context.Context, id string) (*TenantStack, func(), error) {
	ts.mu.Lock()
	e := ts.m[id]
	build := false
	if e == nil {
		e = &stackEntry{id: id, ready: make(chan struct{})}
		ts.m[id] = e
		build = true
	}
	e.inFlight++
	e.lastUsed = ts.now()
	gen := ts.generationLocked(id)
	ts.mu.Unlock()
	release := func() {
		ts.mu.Lock()
		e.inFlight--
		e.lastUsed = ts.now()
		ts.closeIfDoneLocked(e)
		ts.mu.Unlock()
	}
	if build {
		go ts.build(e, gen)
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		release()
		return nil, nil, ctx.Err()
	}
	if e.err != nil {
		release()
		return nil, nil, e.err
	}
	return e.stack, release, nil
}

// buildTimeout bounds one stack build (reading the tenant, migrating its database).
const buildTimeout = time.Minute

func (ts *Tenants) build(e *stackEntry, gen uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	var st *TenantStack
	t, err := ts.opts.Source.Get(ctx, e.id)
	if err == nil {
		st, err = ts.opts.Build(ctx, t)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e.stack, e.err = st, err
	close(e.ready)
	if err != nil {
		// Not cached: the next request tries again (the database may be back).
		e.retired = true
		if ts.m[e.id] == e {
			delete(ts.m, e.id)
		}
		if !errors.Is(err, tenants.ErrNotFound) {
			ts.opts.Logger.Warn("tenant not served", "tenant", e.id, "err", err)
		}
		return
	}
	if ts.generationLocked(e.id) != gen {
		// The tenant changed while it was read: this stack may hold the old secret.
		ts.retireLocked(e)
		return
	}
	ts.evictLocked()
	ts.closeIfDoneLocked(e)
}

// evictLocked retires the least recently used stacks past MaxStacks.
func (ts *Tenants) evictLocked() {
	for len(ts.m) > ts.opts.MaxStacks {
		var oldest *stackEntry
		for _, e := range ts.m {
			select {
			case <-e.ready:
			default:
				continue
			}
			if oldest == nil || e.lastUsed.Before(oldest.lastUsed) {
				oldest = e
			}
		}
		if oldest == nil {
			return
		}
		ts.retireLocked(oldest)
	}
}

func (ts *Tenants) janitor() {
	t := time.NewTicker(max(ts.opts.IdleTimeout/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ts.stop:
			return
		case <-t.C:
		}
		ts.mu.Lock()
		now := ts.now()
		for _, e := range ts.m {
			if e.inFlight == 0 && now.Sub(e.lastUsed) > ts.opts.IdleTimeout {
				select {
				case <-e.ready:
					ts.retireLocked(e)
				default:
				}
			}
		}
		ts.mu.Unlock()
	}
}

// Forget retires the stack of tenant id ("" = every stack): its next request builds a new
// one (after an admin change of its keys).
func (ts *Tenants) Forget(id string) { ts.changed(id) }

// Live reports whether tenant id has a stack cached (built or building) on this gateway.
func (ts *Tenants) Live(id string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	_, ok := ts.m[id]
	return ok
}

// Len is the number of stacks cached (built or building).
func (ts *Tenants) Len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.m)
}

// Engine returns the engine of tenant id, building its stack when needed: the admin API's
// way to a tenant's database. The stack counts as in use, like a request's, until release
// is called (once; later calls do nothing): a stack retired meanwhile (a change, the
// bound, idleness) keeps its pool open for as long as the caller's operation runs.
func (ts *Tenants) Engine(ctx context.Context, id string) (e *gateway.Engine, release func(), err error) {
	st, rel, err := ts.acquire(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return st.Engine, func() { once.Do(rel) }, nil
}

// Close retires every stack and stops the janitor.
func (ts *Tenants) Close() {
	ts.stopped.Do(func() { close(ts.stop) })
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, e := range ts.m {
		ts.retireLocked(e)
	}
}

// tenantError is a refusal of the front app, before any tenant's dialect is chosen.
type tenantError struct {
	status int
	code   string
	msg    string
}

func (e *tenantError) Error() string { return e.code + ": " + e.msg }

// tenantID is the request's tenant as the reference derives it: the first capture group
// of REQUEST_X_FORWARDED_HOST_REGEXP matched against X-Forwarded-Host.
func (ts *Tenants) tenantID(c *fiber.Ctx) (string, error) {
	hosts := c.Request().Header.PeekAll("X-Forwarded-Host")
	if len(hosts) != 1 {
		return "", &tenantError{400, "InvalidRequest", "X-Forwarded-Host header is not a string"}
	}
	m := ts.opts.HostRegexp.FindStringSubmatch(string(hosts[0]))
	if m == nil {
		return "", &tenantError{400, "InvalidRequest", "X-Forwarded-Host header does not match regular expression"}
	}
	id := ""
	if len(m) > 1 {
		id = m[1]
	}
	if id == "" {
		return "", &tenantError{400, "TenantNotFound", "Invalid tenant id"}
	}
	return id, nil
}

// dispatch serves the request with its tenant's stack.
func (ts *Tenants) dispatch(s3Only bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := ts.tenantID(c)
		if err != nil {
			return err
		}
		st, release, err := ts.acquire(c.UserContext(), id)
		switch {
		case errors.Is(err, tenants.ErrNotFound):
			return &tenantError{400, "TenantNotFound", "Missing tenant config for tenant " + id}
		case err != nil:
			return &tenantError{0, "unavailable", err.Error()}
		}
		defer release()
		h := st.main
		if s3Only {
			h = st.s3
		}
		if h == nil || (isS3Path(c.Path()) && st.s3 == nil) || (!st.imageTransformation && isRenderPath(c.Path())) {
			// The reference's answer when the tenant's feature flag is off, in JSON on
			// every route (its onRequest hook answers before the dialect does).
			return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"error": "FeatureNotEnabled", "statusCode": "403",
				"message": "feature not enabled for this tenant"})
		}
		// Events record the host the tenant was named by as tenant.host (a copy: fasthttp
		// reuses the header's buffer).
		c.SetUserContext(gateway.WithTenantHost(c.UserContext(), string(c.Request().Header.Peek("X-Forwarded-Host"))))
		c.Context().SetUserValue(userContextKey, c.UserContext())
		h(c.Context())
		return nil
	}
}

// tenantErrors renders the front app's refusals in the dialect the path belongs to.
func (s *Server) tenantErrors(c *fiber.Ctx, err error) error {
	var te *tenantError
	if !errors.As(err, &te) {
		return rest.ErrorHandler(s.opts.Logger)(c, err)
	}
	if s.s3Only || isS3Path(c.Path()) {
		status, code, msg := te.status, te.code, te.msg
		if status == 0 {
			// As the S3 dialect answers a database that does not answer.
			status, code, msg = 503, "ServiceUnavailable", "Please reduce your request rate."
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		c.Status(status)
		if c.Method() == fiber.MethodHead {
			return nil
		}
		body, _ := xml.Marshal(struct {
			XMLName   xml.Name `xml:"Error"`
			Code      string
			Message   string
			Resource  string
			RequestID string `xml:"RequestId"`
		}{Code: code, Message: msg, Resource: c.Path(), RequestID: RequestID(c.UserContext())})
		c.Set(fiber.HeaderContentType, "application/xml")
		return c.Send(append([]byte(xml.Header), body...))
	}
	if te.status == 0 {
		// The REST dialect's answer to a database that does not answer (Retry-After set).
		return rest.ErrorHandler(s.opts.Logger)(c, rest.NewError(544, 544, "DatabaseTimeout", "DatabaseTimeout",
			"The connection to the database timed out"))
	}
	return rest.ErrorHandler(s.opts.Logger)(c, rest.NewError(te.status, te.status, te.code, te.code, te.msg))
}

// NewMultiTenant builds the main listener's app in multi-tenant mode: /status, /version and
// /metrics of the gateway, every other request served by its tenant's stack.
func NewMultiTenant(ts *Tenants, opts Options) *Server {
	s := newServer(nil, opts)
	app := s.newApp(s.tenantErrors)
	app.Get("/status", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	app.Get("/version", func(c *fiber.Ctx) error { return c.SendString(opts.Version) })
	if opts.Metrics {
		app.Get("/metrics", s.metrics.handler())
	}
	app.Use(ts.dispatch(false))
	s.App = app
	return s
}

// NewMultiTenantS3 builds the S3 listener's app in multi-tenant mode.
func NewMultiTenantS3(ts *Tenants, opts Options) *Server {
	s := newServer(nil, opts)
	s.s3Only = true
	app := s.newApp(s.tenantErrors)
	app.Use(ts.dispatch(true))
	s.App = app
	return s
}
