package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/admin"
	"github.com/stowage/stowage/cdn"
	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/server"
	"github.com/stowage/stowage/gateway/tenants"
	"github.com/stowage/stowage/rest"
	"github.com/stowage/stowage/rest/render"
)

// defaultTenantMaxConns bounds a tenant's pool when the control database gives no
// max_connections: many tenants share one gateway, so each gets few connections.
const defaultTenantMaxConns = 5

// multiTenant is what multi-tenant serving takes beyond Config: where tenants come from
// and how many stacks (one database pool each) are kept.
type multiTenant struct {
	Source tenants.Source
	// Registry, when set, is the control plane the admin API manages tenants through
	// (started on ADMIN_PORT when ADMIN_API_KEYS is set).
	Registry  *tenants.Registry
	MaxStacks int
	// IdleTimeout retires a tenant's stack (closes its pool) after this long unused.
	IdleTimeout time.Duration
	// StackClosed, when set, is told after a tenant's stack closed (tests).
	StackClosed func(id string)
}

// tenantStacks builds the cache of per-tenant stacks over the shared store.
func tenantStacks(cfg Config, mt multiTenant, store backend.Store, ev *tenantEvents, log *slog.Logger) (*server.Tenants, error) {
	if cfg.HostRegexp == "" {
		return nil, errors.New("REQUEST_X_FORWARDED_HOST_REGEXP: required in multi-tenant mode")
	}
	re, err := regexp.Compile(cfg.HostRegexp)
	if err != nil {
		return nil, fmt.Errorf("REQUEST_X_FORWARDED_HOST_REGEXP: %w", err)
	}
	if re.NumSubexp() < 1 {
		return nil, errors.New("REQUEST_X_FORWARDED_HOST_REGEXP: needs a capture group (the tenant id)")
	}
	renderer, err := sharedRenderer(cfg, log)
	if err != nil {
		return nil, err
	}
	var creds gateway.CredentialStore // nil: credentials and keys in each tenant's database
	if mt.Registry != nil {
		creds = mt.Registry // the control database's tenants_s3_credentials and tenants_jwks
	}
	return server.NewTenants(server.TenantOptions{HostRegexp: re, Source: mt.Source, MaxStacks: mt.MaxStacks,
		IdleTimeout: mt.IdleTimeout, Logger: log,
		Build: func(ctx context.Context, t *tenants.Tenant) (*server.TenantStack, error) {
			if err := migrateOnRequest(ctx, cfg, mt.Registry, t); err != nil { // DB_MIGRATIONS_STRATEGY
				return nil, fmt.Errorf("tenant %s: migrate: %w", t.ID, err)
			}
			return buildTenantStack(ctx, cfg, t, store, renderer, creds, ev, log)
		}}), nil
}

// sharedRenderer is the gateway's one image renderer in multi-tenant mode (nil when
// IMAGE_TRANSFORMATION_ENABLED=false): one libvips, one concurrency bound
// (STOWAGE_RENDER_CONCURRENCY) and one disk cache (STOWAGE_RENDER_CACHE_SIZE) for all
// tenants; each tenant's render routes use a ForTenant view of it. libvips is loaded on
// the first render of any tenant, not at start.
func sharedRenderer(cfg Config, log *slog.Logger) (*render.Renderer, error) {
	if !cfg.ImageTransform {
		return nil, nil
	}
	if cfg.ImgproxyURL != "" {
		// imgproxy fetches originals from this server's URL with a download token: in
		// multi-tenant mode that URL would have to name the tenant (X-Forwarded-Host).
		return nil, errors.New("IMGPROXY_URL: not supported in multi-tenant mode (renders use the built-in libvips)")
	}
	cacheBytes, _ := gateway.ParseSize(cfg.RenderCacheSize)
	maxSource, _ := gateway.ParseSize(cfg.RenderMaxSource)
	r, err := render.NewRenderer(render.Config{Limits: renderLimits(cfg),
		MaxSourceBytes: maxSource, MaxMegapixels: cfg.RenderMaxMegapixel,
		Concurrency: cfg.RenderConcurrency, Timeout: time.Duration(cfg.RenderTimeout) * time.Second,
		CacheDir: filepath.Join(cfg.DataDir, "render-cache"), CacheBytes: cacheBytes, Logger: log,
		Libvips: libvipsNames(cfg.Libvips)})
	if err != nil {
		return nil, err
	}
	log.Info("image transformation", "renderer", r.Backend())
	return r, nil
}

// buildTenantStack is what serve builds for its one tenant, for tenant t: a pool on the
// tenant's database (migrated before, by migrateOnRequest), its JWT keys, the dialects over
// an engine whose keys are under t.ID in the shared store.
func buildTenantStack(ctx context.Context, cfg Config, t *tenants.Tenant, store backend.Store,
	renderer *render.Renderer, creds gateway.CredentialStore, ev *tenantEvents, log *slog.Logger) (*server.TenantStack, error) {
	log = log.With("tenant", t.ID)
	roles := auth.Roles{Anon: cfg.DBAnonRole, Authenticated: cfg.DBAuthRole, Service: cfg.DBServiceRole}
	verifier, err := auth.New(auth.Options{Secret: t.JWTSecret, Algorithm: cfg.JWTAlgorithm, JWKS: t.JWKS, Roles: roles})
	if err != nil {
		return nil, fmt.Errorf("tenant %s: jwt secret / jwks: %w", t.ID, err)
	}
	const tenYears = 10 * 365 * 24 * time.Hour
	anonKey, serviceKey := t.AnonKey, t.ServiceKey
	if anonKey == "" {
		if anonKey, err = verifier.NewKey(roles.Anon, tenYears); err != nil {
			return nil, err
		}
	}
	if serviceKey == "" {
		if serviceKey, err = verifier.NewKey(roles.Service, tenYears); err != nil {
			return nil, err
		}
	}
	maxConns := t.MaxConnections
	if maxConns <= 0 {
		maxConns = min(cfg.DBMaxConns, defaultTenantMaxConns)
	}
	dbOpts := db.Options{MaxConns: int32(maxConns),
		ConnectTimeout:   time.Duration(cfg.DBConnTimeout) * time.Millisecond,
		StatementTimeout: time.Duration(cfg.DBStmtTimeout) * time.Millisecond,
		ApplicationName:  "Stowage " + version,
		MaxConnIdleTime:  time.Duration(cfg.DBIdleTimeout) * time.Millisecond} // MinConns 0: an idle tenant holds none
	queryURL := t.DatabaseURL
	if t.DatabasePoolURL != "" {
		queryURL = t.DatabasePoolURL
	}
	d, err := db.Open(ctx, queryURL, dbOpts)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	maxSize, _ := gateway.ParseSize(cfg.FileSizeLimit)
	if t.FileSizeLimit > 0 {
		maxSize = t.FileSizeLimit
	}
	standard, _ := gateway.ParseSize(cfg.StandardLimit)
	requestTimeout := time.Duration(cfg.RequestTimeout) * time.Second
	engOpts := engineOptions(cfg, t.ID, roles, serviceKey, maxSize, log)
	engOpts.Credentials = creds
	if ev != nil { // events in the tenant's outbox, delivered by startDispatcher and the sweep
		engOpts.Events, engOpts.NotificationARNs = true, cfg.notificationARNs()
	}
	engine := gateway.New(d, store, engOpts)
	if creds != nil && cfg.EncryptionKey != "" {
		// The control database's keys, loaded once: NOTIFY tenants_jwks_update retires
		// this stack. A stack without them is not cached (the next request tries again).
		if err := loadTenantJWKS(ctx, engine, verifier, log); err != nil {
			d.Close()
			return nil, fmt.Errorf("tenant %s: jwks: %w", t.ID, err)
		}
	}
	purger, err := cdn.NewPurger(cdn.Options{Endpoint: cfg.CDNPurgeURL, Key: string(cfg.CDNPurgeKey)})
	if err != nil {
		d.Close()
		return nil, err
	}
	renders := renderer != nil && t.ImageTransformation
	var sign func(json.RawMessage) (string, string, error)
	if renders {
		sign = render.SignTransform(renderLimits(cfg))
	}
	restHandler := rest.New(engine, rest.Options{Verifier: verifier, Roles: roles, StandardLimit: standard,
		JSONLimit: int64(cfg.RequestBodyJSON), SignedUploadExpiry: time.Duration(cfg.SignedUploadTTL) * time.Second,
		SMaxAge: cfg.SMaxAge, Logger: log, PurgeBucket: purger.BucketPurger(t.ID, log), SignTransform: sign})
	opts := server.Options{Logger: log}
	if renders {
		opts.Render = render.NewHandler(engine, renderer.ForTenant(t.ID).WithMaxResolution(t.ImageTransformationMaxResolution),
			render.HandlerOptions{REST: restHandler, Logger: log})
	}
	if t.S3Protocol {
		// As the reference in multi-tenant mode: only the tenant's admin-created
		// credentials (the control database's, or its database's without one) and the
		// session-token form sign S3 requests; the server's S3_PROTOCOL_ACCESS_KEY_ID
		// belongs to no tenant.
		tcfg := cfg
		tcfg.TenantID, tcfg.S3AccessKeyID, tcfg.S3AccessSecret = t.ID, "", ""
		// One STORAGE_PUBLIC_URL cannot name every tenant's host: signatures are checked
		// against the host the client signed, the Host as received or the forwarded host
		// the forwarding options allow, as single-tenant mode without STORAGE_PUBLIC_URL
		// (a deviation from the reference, docs/compatibility.md).
		tcfg.PublicURL = ""
		opts.S3 = s3Handler(engine, tcfg, verifier, roles, anonKey, serviceKey, standard, requestTimeout, log)
	}
	opts.TUS = tusHandler(engine, cfg, verifier, roles, maxSize, log)
	opts.CDN = cdn.NewHandler(purger, cdn.HandlerOptions{REST: restHandler, Tenant: t.ID, Logger: log})
	if h := tenantConsole(cfg, t, verifier, roles, renders, log); h != nil {
		opts.Console = h // docs/console.md, multi-tenant mode
	}
	bg, stop := context.WithCancel(context.Background())
	go engine.RunSweeper(bg, time.Duration(max(cfg.SweepInterval, 1))*time.Second)
	if creds == nil && cfg.EncryptionKey != "" {
		tenantJWKS(bg, engine, verifier, log)
	}
	dispatched := ev.startDispatcher(bg, t, d, log)
	log.Info("tenant stack ready", "max_connections", maxConns)
	return server.NewTenantStack(engine, restHandler, opts, func() {
		stop()
		dispatched() // its attempts under way recorded before the pool closes
		d.Close()
		log.Info("tenant stack closed")
		ev.stackClosed(t.ID)
	}).WithImageTransformation(renders), nil
}

// loadTenantJWKS loads the tenant's admin-managed keys into v once.
func loadTenantJWKS(ctx context.Context, e *gateway.Engine, v *auth.Verifier, log *slog.Logger) error {
	doc, skipped, err := e.TenantJWKS(ctx)
	if err != nil {
		return err
	}
	bad, err := v.SetExtraJWKS(doc)
	if err != nil {
		return err
	}
	if skipped+bad > 0 {
		log.Warn("tenant JWKS: keys skipped (not decryptable with ENCRYPTION_KEY or malformed)", "skipped", skipped+bad)
	}
	return nil
}

// serveMultiTenant serves every tenant mt.Source knows on the configured listeners until
// ctx ends: the tenant of a request is the first capture group of
// REQUEST_X_FORWARDED_HOST_REGEXP in its X-Forwarded-Host (docs/multitenant.md).
func serveMultiTenant(ctx context.Context, cfg Config, mt multiTenant, log *slog.Logger,
	ready func(main, s3 net.Addr, ts *server.Tenants)) error {
	store, err := newStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	ev := newTenantEvents(cfg, mt, log)
	ts, err := tenantStacks(cfg, mt, store, ev, log)
	if err != nil {
		return err
	}
	defer ts.Close()
	if ev != nil {
		ev.live = ts.Live
		evCtx, stopEvents := context.WithCancel(context.Background())
		evDone := make(chan struct{})
		go func() { ev.run(evCtx); close(evDone) }()
		defer func() { stopEvents(); <-evDone }() // after the listeners drained (deferred later, run earlier)
	}
	ver := cfg.Version
	if ver == "" {
		ver = version
	}
	requestTimeout := time.Duration(cfg.RequestTimeout) * time.Second
	srvOpts := server.Options{Version: ver, HeaderTimeout: time.Duration(cfg.HeadersTimeout) * time.Second,
		RequestTimeout: requestTimeout, IdleTimeout: time.Duration(cfg.KeepAlive) * time.Second,
		RequestIDHdr: cfg.RequestIDHdr, Metrics: cfg.MetricsEnabled, Logger: log}
	if ev != nil {
		srvOpts.Collectors = ev.metrics.Totals()
	}
	srv := server.NewMultiTenant(ts, srvOpts)
	ln, err := net.Listen("tcp", server.Addr(cfg.Host, cfg.Port))
	if err != nil {
		return fmt.Errorf("SERVER_PORT: %w", err)
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Listen(ln) }()
	grace := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownGrace)*time.Second)
	}
	var s3Addr net.Addr
	if cfg.S3Port != 0 {
		s3ln, err := net.Listen("tcp", server.Addr(cfg.Host, cfg.S3Port))
		if err != nil {
			_ = srv.Shutdown(context.Background())
			return fmt.Errorf("S3_PORT: %w", err)
		}
		s3srv := server.NewMultiTenantS3(ts, srvOpts)
		defer func() {
			sctx, cancel := grace()
			defer cancel()
			if err := s3srv.Shutdown(sctx); err != nil {
				log.Warn("shutdown s3 listener", "err", err)
			}
		}()
		s3Addr = s3ln.Addr()
		go func() { errc <- s3srv.Listen(s3ln) }()
	}
	if mt.Registry != nil && cfg.AdminAPIKeys != "" {
		stopAdmin, err := startMultiTenantAdmin(cfg, srv, mt.Registry, ts, log, errc)
		if err != nil {
			_ = srv.Shutdown(context.Background())
			return err
		}
		defer stopAdmin()
	}
	log.Info("stowage listening (multi-tenant)", "addr", ln.Addr().String(), "version", ver, "backend", cfg.Backend)
	if ready != nil {
		ready(ln.Addr(), s3Addr, ts)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := grace()
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	return nil
}

// serveControlPlane serves multi-tenant mode with the control database of
// DATABASE_MULTITENANT_URL as the tenants' source (gateway/tenants.Registry, kept current by
// LISTEN/NOTIFY).
func serveControlPlane(ctx context.Context, cfg Config, log *slog.Logger) error {
	url := string(cfg.MTDatabaseURL)
	if cfg.MTDatabasePoolURL != "" {
		url = string(cfg.MTDatabasePoolURL)
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("DATABASE_MULTITENANT_URL: %w", err)
	}
	pcfg.MaxConns = int32(cfg.MTDatabaseMaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("DATABASE_MULTITENANT_URL: %w", err)
	}
	defer pool.Close()
	if err := db.MigrateMultitenant(ctx, pool); err != nil {
		return fmt.Errorf("migrate control database: %w", err)
	}
	reg, err := tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: string(cfg.EncryptionKey),
		ListenURL: string(cfg.MTDatabaseURL), Logger: log})
	if err != nil {
		return err
	}
	defer reg.Close() // before the pool closes: a fleet job stops first
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { _ = reg.Run(runCtx); close(runDone) }()
	defer func() { stopRun(); <-runDone }()
	startMigrations(ctx, cfg, reg, log) // resumes a fleet job left running; DB_MIGRATIONS_STRATEGY
	return serveMultiTenant(ctx, cfg, multiTenant{Source: reg, Registry: reg, MaxStacks: cfg.TenantPoolCacheMax}, log, nil)
}

// migrateTenantFunc migrates a tenant's database (admin tenant writes, the fleet job).
func migrateTenantFunc(cfg Config) tenants.MigrateFunc {
	return func(ctx context.Context, t *tenants.Tenant) error {
		return tenants.MigrateDatabase(ctx, t.DatabaseURL, migrateOptions(&cfg, cfg.DBInstallRoles))
	}
}

// startMultiTenantAdmin serves the admin API over the control plane: tenant CRUD through
// reg, per-tenant routes on the tenant's engine from the stack cache.
func startMultiTenantAdmin(cfg Config, main *server.Server, reg *tenants.Registry, ts *server.Tenants,
	log *slog.Logger, errc chan<- error) (stop func(), err error) {
	maxSize, _ := gateway.ParseSize(cfg.FileSizeLimit)
	return listenAdmin(cfg, main, log, errc, func() *admin.Handler {
		return admin.New(nil, admin.Options{APIKeys: cfg.adminKeys(), JSONLimit: int64(cfg.RequestBodyJSON), Logger: log,
			Tenants: reg, Engine: ts.Engine, MigrateTenant: migrateTenantFunc(cfg), ReturnSensitive: cfg.AdminReturnSensitive,
			// A key added or toggled: the tenant's next request gets a stack that loaded it.
			TenantJWKSChanged: ts.Forget,
			Tenant:            admin.TenantInfo{FileSizeLimit: maxSize, ImageTransformation: cfg.ImageTransform, S3Protocol: true}})
	})
}
