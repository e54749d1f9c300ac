package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stowage/stowage/admin"
	"github.com/stowage/stowage/cdn"
	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgcluster"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/gateway/backend/s3backend"
	"github.com/stowage/stowage/gateway/server"
	"github.com/stowage/stowage/rest"
	"github.com/stowage/stowage/rest/tus"
	"github.com/stowage/stowage/s3proto"
)

// database opens the configured database, starting the embedded Postgres when DATABASE_URL
// is unset, and migrates it. stop releases everything it started.
func database(ctx context.Context, cfg *Config, log *slog.Logger) (d *db.DB, stop func(), err error) {
	url := string(cfg.DatabaseURL)
	stop = func() {}
	installRoles := cfg.DBInstallRoles
	if cfg.Embedded() {
		dir := filepath.Join(cfg.DataDir, "postgres")
		cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Logf: func(f string, a ...any) {
			log.Info(fmt.Sprintf(f, a...))
		}})
		if err != nil {
			return nil, stop, fmt.Errorf("start embedded postgres: %w", err)
		}
		stop = func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cluster.Stop(sctx); err != nil {
				log.Warn("stop embedded postgres", "err", err)
			}
		}
		url = cluster.LocalURL("postgres")
		installRoles = true
		log.Info("embedded postgres running", "url", url)
	}
	d, err = db.Open(ctx, url, db.Options{MaxConns: int32(cfg.DBMaxConns),
		ConnectTimeout:   time.Duration(cfg.DBConnTimeout) * time.Millisecond,
		StatementTimeout: time.Duration(cfg.DBStmtTimeout) * time.Millisecond,
		ApplicationName:  "Stowage " + version,
		MinConns:         int32(cfg.DBMinConns),
		MaxConnIdleTime:  time.Duration(cfg.DBIdleTimeout) * time.Millisecond})
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	stopCluster := stop
	closeAll := func() { d.Close(); stopCluster() }
	err = db.Migrate(ctx, d.Pool(), migrateOptions(cfg, installRoles))
	if err != nil {
		closeAll()
		return nil, func() {}, fmt.Errorf("migrate: %w", err)
	}
	return d, closeAll, nil
}

func migrateOptions(cfg *Config, installRoles bool) db.MigrateOptions {
	return db.MigrateOptions{InstallRoles: installRoles, AnonRole: cfg.DBAnonRole,
		AuthenticatedRole: cfg.DBAuthRole, ServiceRole: cfg.DBServiceRole, SuperUser: cfg.DBSuperUser}
}

func migrateOnly(ctx context.Context, cfg Config, log *slog.Logger) error {
	_, stop, err := database(ctx, &cfg, log)
	if err != nil {
		return err
	}
	stop()
	log.Info("migrations applied")
	return nil
}

// devSecrets are generated once in embedded mode and kept in the data folder, so keys stay
// valid across restarts.
type devSecrets struct {
	JWTSecret     string `json:"jwt_secret"`
	S3AccessKeyID string `json:"s3_access_key_id"`
	S3Secret      string `json:"s3_secret_access_key"`
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

func loadDevSecrets(dir string) (devSecrets, error) {
	path := filepath.Join(dir, "dev-secrets.json")
	var s devSecrets
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &s); err != nil {
			return s, fmt.Errorf("read %s: %w", path, err)
		}
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	s = devSecrets{JWTSecret: randomHex(32), S3AccessKeyID: randomHex(16), S3Secret: randomHex(32)}
	data, _ := json.MarshalIndent(s, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s, err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return s, err
	}
	return s, nil
}

// credentials fills in what embedded mode generates and returns the verifier and keys.
func credentials(cfg *Config, roles auth.Roles) (*auth.Verifier, string, string, error) {
	if cfg.Embedded() && (cfg.JWTSecret == "" || cfg.S3AccessKeyID == "") {
		s, err := loadDevSecrets(cfg.DataDir)
		if err != nil {
			return nil, "", "", err
		}
		if cfg.JWTSecret == "" {
			cfg.JWTSecret = Secret(s.JWTSecret)
		}
		if cfg.S3AccessKeyID == "" {
			cfg.S3AccessKeyID, cfg.S3AccessSecret = s.S3AccessKeyID, Secret(s.S3Secret)
		}
	}
	v, err := auth.New(auth.Options{Secret: string(cfg.JWTSecret), Algorithm: cfg.JWTAlgorithm, JWKS: string(cfg.JWKS), Roles: roles})
	if err != nil {
		return nil, "", "", fmt.Errorf("AUTH_JWT_SECRET / JWT_JWKS: %w", err)
	}
	const tenYears = 10 * 365 * 24 * time.Hour
	anon, service := string(cfg.AnonKey), string(cfg.ServiceKey)
	if anon == "" {
		if anon, err = v.NewKey(roles.Anon, tenYears); err != nil {
			return nil, "", "", err
		}
	}
	if service == "" {
		if service, err = v.NewKey(roles.Service, tenYears); err != nil {
			return nil, "", "", err
		}
	}
	return v, anon, service, nil
}

// newStore opens the configured backend: a local folder, or an upstream S3 bucket (whose
// reachability is only logged at start, so an upstream outage does not stop the server).
func newStore(ctx context.Context, cfg Config, log *slog.Logger) (backend.Store, error) {
	if cfg.Backend != "s3" {
		root := cfg.FilePath
		if root == "" {
			root = filepath.Join(cfg.DataDir, "storage")
		}
		store, err := filebackend.New(root, filebackend.Options{SubDir: cfg.S3Bucket})
		if err != nil {
			return nil, fmt.Errorf("STORAGE_FILE_BACKEND_PATH: %w", err)
		}
		return store, nil
	}
	opts := s3backend.Options{Bucket: cfg.S3Bucket, Endpoint: cfg.S3Endpoint, Region: cfg.S3Region,
		ForcePathStyle: cfg.S3PathStyle, MaxSockets: cfg.S3MaxSockets, PartSize: int64(cfg.S3PartSize),
		Timeout: time.Duration(cfg.S3ClientTimeout) * time.Millisecond}
	if cfg.S3CABundle != "" && !strings.HasPrefix(cfg.S3Endpoint, "http://") { // only TLS uses it
		pem, err := os.ReadFile(cfg.S3CABundle)
		if err != nil {
			return nil, fmt.Errorf("AWS_CA_BUNDLE: %w", err)
		}
		opts.CABundle = pem
	}
	store, err := s3backend.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("STORAGE_BACKEND=s3: %w", err)
	}
	checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := store.Check(checkCtx); err != nil {
		log.Warn("upstream S3 bucket not usable yet", "bucket", cfg.S3Bucket, "endpoint", cfg.S3Endpoint, "error", err.Error())
	}
	return store, nil
}

func serve(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.MultiTenant {
		return serveControlPlane(ctx, cfg, log) // docs/multitenant.md
	}
	roles := auth.Roles{Anon: cfg.DBAnonRole, Authenticated: cfg.DBAuthRole, Service: cfg.DBServiceRole}
	verifier, anonKey, serviceKey, err := credentials(&cfg, roles)
	if err != nil {
		return err
	}
	d, stopDB, err := database(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stopDB()
	store, err := newStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	maxSize, _ := gateway.ParseSize(cfg.FileSizeLimit)
	standard, _ := gateway.ParseSize(cfg.StandardLimit)
	requestTimeout := time.Duration(cfg.RequestTimeout) * time.Second
	engineOpts := engineOptions(cfg, cfg.TenantID, roles, serviceKey, maxSize, log)
	engineOpts.Events, engineOpts.NotificationARNs = cfg.eventsEnabled(), cfg.notificationARNs()
	engine := gateway.New(d, store, engineOpts)
	purger, err := cdn.NewPurger(cdn.Options{Endpoint: cfg.CDNPurgeURL, Key: string(cfg.CDNPurgeKey)})
	if err != nil {
		return err
	}
	events := dispatcher(cfg, d, log)
	restHandler := rest.New(engine, rest.Options{Verifier: verifier, Roles: roles, StandardLimit: standard,
		JSONLimit: int64(cfg.RequestBodyJSON), SignedUploadExpiry: time.Duration(cfg.SignedUploadTTL) * time.Second,
		SMaxAge: cfg.SMaxAge, SignTransform: signTransform(cfg), Logger: log,
		PurgeBucket: purger.BucketPurger(cfg.TenantID, log)})
	ver := cfg.Version
	if ver == "" {
		ver = version
	}
	srvOpts := server.Options{Version: ver, HeaderTimeout: time.Duration(cfg.HeadersTimeout) * time.Second,
		RequestTimeout: requestTimeout, IdleTimeout: time.Duration(cfg.KeepAlive) * time.Second,
		RequestIDHdr: cfg.RequestIDHdr, Metrics: cfg.MetricsEnabled, Logger: log,
		S3: s3Handler(engine, cfg, verifier, roles, anonKey, serviceKey, standard, requestTimeout, log)}
	renderHandler, err := renderRoutes(engine, cfg, verifier, restHandler, log)
	if err != nil {
		return err
	}
	if renderHandler != nil {
		srvOpts.Render = renderHandler
	}
	srvOpts.TUS = tusHandler(engine, cfg, verifier, roles, maxSize, log)
	srvOpts.CDN = cdn.NewHandler(purger, cdn.HandlerOptions{REST: restHandler, Tenant: cfg.TenantID, Logger: log})
	consoleCtx, stopConsole := context.WithCancel(context.Background())
	defer stopConsole()
	if h, rec := consoleRoutes(consoleCtx, cfg, d, verifier, roles, ver, log); h != nil {
		srvOpts.Console, srvOpts.Traffic = h, rec
	}
	if events != nil {
		srvOpts.Collectors = events.Metrics().Collectors()
	}
	srv := server.New(engine, restHandler, srvOpts)

	ln, err := net.Listen("tcp", server.Addr(cfg.Host, cfg.Port))
	if err != nil {
		return fmt.Errorf("SERVER_PORT: %w", err)
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	defer stopSweep()
	go engine.RunSweeper(sweepCtx, time.Duration(max(cfg.SweepInterval, 1))*time.Second)
	if events != nil && cfg.EventsDispatch {
		// Its own context: deliveries go on while requests drain, and stop after them.
		dispatchCtx, stopDispatch := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { events.Run(dispatchCtx); close(done) }()
		defer func() { stopDispatch(); <-done }()
	}

	if cfg.Embedded() {
		printDevBanner(stdout, cfg, ln.Addr().String(), anonKey, serviceKey)
	}
	log.Info("stowage listening", "addr", ln.Addr().String(), "version", ver, "backend", cfg.Backend)
	errc := make(chan error, 3)
	go func() { errc <- srv.Listen(ln) }()
	if cfg.S3Port != 0 {
		s3ln, err := net.Listen("tcp", server.Addr(cfg.Host, cfg.S3Port))
		if err != nil {
			_ = srv.Shutdown(context.Background())
			return fmt.Errorf("S3_PORT: %w", err)
		}
		s3srv := server.NewS3(engine, srvOpts)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownGrace)*time.Second)
			defer cancel()
			if err := s3srv.Shutdown(sctx); err != nil {
				log.Warn("shutdown s3 listener", "err", err)
			}
		}()
		log.Info("stowage s3 listening", "addr", s3ln.Addr().String())
		go func() { errc <- s3srv.Listen(s3ln) }()
	}
	var reloadJWKS func()
	if cfg.EncryptionKey != "" {
		reloadJWKS = tenantJWKS(sweepCtx, engine, verifier, log)
	}
	if cfg.AdminAPIKeys != "" {
		stopAdmin, err := startAdmin(cfg, srv, engine, d, maxSize, reloadJWKS, log, errc)
		if err != nil {
			_ = srv.Shutdown(context.Background())
			return err
		}
		defer stopAdmin()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "grace_seconds", cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownGrace)*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	stopSweep()
	return nil
}

// engineOptions are the engine's options for tenant tenantID, in single-tenant mode and
// for each tenant's stack in multi-tenant mode (events are single-tenant only).
func engineOptions(cfg Config, tenantID string, roles auth.Roles, serviceKey string, maxSize int64,
	log *slog.Logger) gateway.Options {
	return gateway.Options{TenantID: tenantID, Roles: roles, ServiceKey: serviceKey,
		MaxObjectSize: maxSize, WriteTimeout: time.Duration(cfg.RequestTimeout) * time.Second,
		EmptyBucketMax: cfg.EmptyBucketMax, UploadExpiry: time.Duration(cfg.MultipartExpiry) * time.Second,
		Logger: log, EncryptionKey: string(cfg.EncryptionKey), Region: cfg.Region,
		LifecycleDay: time.Duration(cfg.LifecycleDay) * time.Second, InlineMax: int64(cfg.InlineMax)}
}

// tusHandler builds the TUS dialect over engine (single-tenant mode and each tenant's stack).
func tusHandler(engine *gateway.Engine, cfg Config, verifier *auth.Verifier, roles auth.Roles, maxSize int64,
	log *slog.Logger) *tus.Handler {
	return tus.New(engine, tus.Options{Verifier: verifier, Roles: roles, URLPath: cfg.TUSURLPath,
		Expiry: time.Duration(cfg.TUSURLExpiry) * time.Millisecond, MaxSize: maxSize, Logger: log,
		PublicProto: publicURL(cfg).Scheme, PublicHost: publicURL(cfg).Host, ForceHTTPS: cfg.NodeEnv == "production",
		AllowForwardedPath: cfg.AllowFwdPath})
}

func printDevBanner(w io.Writer, cfg Config, addr, anon, service string) {
	host, port, _ := net.SplitHostPort(addr)
	if host == "0.0.0.0" || host == "::" || host == "" {
		host = "127.0.0.1"
	}
	base := "http://" + net.JoinHostPort(host, port)
	fmt.Fprintf(w, `
================ Stowage (embedded development mode) ================
REST API         %s          (supabase-js: %s/storage/v1)
S3 endpoint      %s/s3
Data folder      %s
SUPABASE_ANON_KEY=%s
SUPABASE_SERVICE_ROLE_KEY=%s
AWS_ACCESS_KEY_ID=%s
AWS_SECRET_ACCESS_KEY=%s
Try:  curl -H "Authorization: Bearer $SUPABASE_SERVICE_ROLE_KEY" %s/bucket
======================================================================
`, base, base, base, cfg.DataDir, anon, service, cfg.S3AccessKeyID, string(cfg.S3AccessSecret), base)
}

// s3Handler builds the S3 dialect: service credentials act as the service role; the tenant
// id with the anon key as secret takes a user JWT as session token.
func s3Handler(e *gateway.Engine, cfg Config, v *auth.Verifier, roles auth.Roles, anonKey, serviceKey string,
	standard int64, requestTimeout time.Duration, log *slog.Logger) *s3proto.Handler {
	region := cfg.S3Region
	if region == "" {
		region = cfg.Region
	}
	var domains []string
	for d := range strings.SplitSeq(cfg.S3Domains, ",") {
		if d = strings.TrimSpace(d); d != "" {
			domains = append(domains, d)
		}
	}
	return s3proto.New(e, s3proto.Options{AccessKeyID: cfg.S3AccessKeyID, SecretKey: string(cfg.S3AccessSecret),
		TenantID: cfg.TenantID, AnonKey: anonKey, Verifier: v, Roles: roles, ServiceKey: serviceKey, Region: region,
		StandardLimit: standard, XMLLimit: max(int64(cfg.RequestBodyJSON), 2<<20), VirtualHostDomains: domains,
		DownloadTimeout: requestTimeout, Logger: log,
		PathPrefix: cfg.S3Prefix, AllowForwardedPath: cfg.AllowFwdPath, PublicHost: publicURL(cfg).Host,
		AllowForwardedHeader: cfg.S3AllowFwdHdr, HostHeader: cfg.S3HostHeader, EnforceRegion: cfg.S3EnforceRegion,
		DisableSigV2: !cfg.S3AllowSigV2})
}

// publicURL is STORAGE_PUBLIC_URL parsed (checked by LoadConfig), empty when unset.
func publicURL(cfg Config) *url.URL {
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || cfg.PublicURL == "" {
		return &url.URL{}
	}
	return u
}

// startAdmin serves the admin API on ADMIN_PORT (docs/admin.md); stop drains it.
func startAdmin(cfg Config, main *server.Server, e *gateway.Engine, d *db.DB, maxSize int64, reloadJWKS func(),
	log *slog.Logger, errc chan<- error) (stop func(), err error) {
	installRoles := cfg.DBInstallRoles || cfg.Embedded()
	return listenAdmin(cfg, main, log, errc, func() *admin.Handler {
		return admin.New(e, admin.Options{APIKeys: cfg.adminKeys(), JSONLimit: int64(cfg.RequestBodyJSON), Logger: log,
			JWKSChanged: reloadJWKS,
			Migrate:     func(ctx context.Context) error { return db.Migrate(ctx, d.Pool(), migrateOptions(&cfg, installRoles)) },
			Tenant:      admin.TenantInfo{FileSizeLimit: maxSize, ImageTransformation: cfg.ImageTransform, S3Protocol: true}})
	})
}

// listenAdmin binds ADMIN_PORT, then serves the handler newHandler builds (only once the
// port is ours) until stop, which drains it within SHUTDOWN_GRACE.
func listenAdmin(cfg Config, main *server.Server, log *slog.Logger, errc chan<- error,
	newHandler func() *admin.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", server.Addr(cfg.Host, cfg.AdminPort))
	if err != nil {
		return nil, fmt.Errorf("SERVER_ADMIN_PORT: %w", err)
	}
	srv := server.NewAdmin(main, newHandler())
	log.Info("stowage admin listening", "addr", ln.Addr().String())
	go func() { errc <- srv.Listen(ln) }()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownGrace)*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("shutdown admin listener", "err", err)
		}
	}, nil
}

// jwksRefresh is how often a gateway re-reads the tenant's admin-managed keys: a key added
// or disabled through another gateway takes effect here within this bound.
const jwksRefresh = 10 * time.Second

// tenantJWKS loads the tenant's admin-managed keys into v now and every jwksRefresh until
// ctx ends, and returns the function that reloads them at once (after an admin change).
func tenantJWKS(ctx context.Context, e *gateway.Engine, v *auth.Verifier, log *slog.Logger) (reload func()) {
	var mu sync.Mutex // one load at a time, so an older read never overwrites a newer one
	reload = func() {
		mu.Lock()
		defer mu.Unlock()
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		doc, skipped, err := e.TenantJWKS(lctx)
		if err == nil {
			var bad int
			bad, err = v.SetExtraJWKS(doc)
			skipped += bad
		}
		if err != nil {
			log.Warn("tenant JWKS not reloaded", "err", err)
		}
		if skipped > 0 {
			log.Warn("tenant JWKS: keys skipped (not decryptable with ENCRYPTION_KEY or malformed)", "skipped", skipped)
		}
	}
	reload()
	go func() {
		t := time.NewTicker(jwksRefresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				reload()
			}
		}
	}()
	return reload
}
