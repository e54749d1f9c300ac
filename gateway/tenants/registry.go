package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/passphrase"
)

// ErrExists is returned by Create for an id the control database already holds.
var ErrExists = errors.New("tenant already exists")

// ErrNoEncryptionKey is returned by NewRegistry without an encryption key.
var ErrNoEncryptionKey = errors.New("tenants: ENCRYPTION_KEY is not set")

// Registry is the control plane's Source: it reads tenants from the control database's
// `tenants` table, decrypts their secrets with ENCRYPTION_KEY, caches them, and writes
// them for the admin API.
//
// The cache is kept current by LISTEN tenants_update (the reference's channel; Run keeps
// the listening connection). It caches only while that connection is up: after the
// connection is lost (and notifications with it) every cached tenant is dropped and
// Changed subscribers hear "" once it is back, so no tenant is served stale for longer
// than a notification's trip — or, without Run, at all (every Get reads the database).
type Registry struct {
	pool   *pgxpool.Pool
	key    string
	listen *pgx.ConnConfig
	log    *slog.Logger

	mu        sync.Mutex
	cache     map[string]*Tenant
	gen       uint64 // bumped by every invalidation; a Get stores only if unchanged
	listening bool
	subs      []func(id string)

	// fleetRunning counts fleet jobs this gateway runs (0 or 1; the lock allows one).
	fleetRunning atomic.Int32
	// fleetCtx outlives the requests that start fleet jobs and ends at Close, which waits
	// for fleetWG: a job stopped that way stays running in the control database and is
	// resumed by the next ResumeFleet.
	fleetCtx  context.Context
	stopFleet context.CancelFunc
	fleetWG   sync.WaitGroup

	// creds caches S3 credential lookups (credentials.go), under mu.
	creds credCache
}

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// EncryptionKey is ENCRYPTION_KEY, the passphrase of the stored secrets.
	EncryptionKey string
	// ListenURL is the control database URL the LISTEN connection uses
	// (DATABASE_MULTITENANT_URL: an external pooler in transaction mode would not deliver
	// notifications). Empty: the pool's own connection settings.
	ListenURL string
	Logger    *slog.Logger
}

// NewRegistry returns a Registry over the control database behind pool (migrated with
// db.MigrateMultitenant). Call Run to keep its cache.
func NewRegistry(pool *pgxpool.Pool, opts RegistryOptions) (*Registry, error) {
	if opts.EncryptionKey == "" {
		return nil, ErrNoEncryptionKey
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg := pool.Config().ConnConfig.Copy()
	if opts.ListenURL != "" {
		c, err := pgx.ParseConfig(opts.ListenURL)
		if err != nil {
			return nil, fmt.Errorf("tenants: listen URL: %w", err)
		}
		cfg = c
	}
	fleetCtx, stopFleet := context.WithCancel(context.Background())
	return &Registry{pool: pool, key: opts.EncryptionKey, listen: cfg, log: opts.Logger, cache: map[string]*Tenant{},
		fleetCtx: fleetCtx, stopFleet: stopFleet}, nil
}

// Close stops this gateway's fleet job, if it runs one, after the step it is on, and waits
// for it; call it before closing the pool.
func (r *Registry) Close() {
	r.stopFleet()
	r.fleetWG.Wait()
}

// Get returns tenant id (ErrNotFound when the control database has none). The returned
// Tenant is shared: callers must not change it.
func (r *Registry) Get(ctx context.Context, id string) (*Tenant, error) {
	r.mu.Lock()
	if t, ok := r.cache[id]; ok {
		r.mu.Unlock()
		return t, nil
	}
	gen := r.gen
	r.mu.Unlock()

	row, err := db.ControlTenant(ctx, r.pool, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("tenants: read %q: %w", id, err)
	}
	t, err := r.decrypt(row)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.listening && r.gen == gen {
		r.cache[strings.Clone(id)] = t
	}
	r.mu.Unlock()
	return t, nil
}

// Changed registers fn; see Source.
func (r *Registry) Changed(fn func(id string)) {
	r.mu.Lock()
	r.subs = append(r.subs, fn)
	r.mu.Unlock()
}

// forget drops id ("" = every tenant) from the cache and tells the subscribers.
func (r *Registry) forget(id string) {
	r.mu.Lock()
	r.gen++
	if id == "" {
		clear(r.cache)
		r.creds.clear() // credentials.go
	} else {
		delete(r.cache, id)
	}
	subs := append([]func(string){}, r.subs...)
	r.mu.Unlock()
	for _, fn := range subs {
		fn(id)
	}
}

// setListening records whether notifications are being received.
func (r *Registry) setListening(on bool) {
	r.mu.Lock()
	r.listening = on
	r.mu.Unlock()
}

// retryDelay is the pause before the LISTEN connection is opened again after a failure.
const retryDelay = time.Second

// Run keeps the LISTEN connection until ctx is done, reconnecting after failures. Each
// time it (re)starts listening it drops the whole cache and calls Changed("")
// subscribers: notifications sent while it was not listening are lost.
func (r *Registry) Run(ctx context.Context) error {
	for {
		err := r.listenOnce(ctx)
		r.setListening(false)
		if ctx.Err() != nil {
			return nil
		}
		r.log.WarnContext(ctx, "tenants: control database notifications interrupted; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryDelay):
		}
	}
}

// FleetRunning reports whether this gateway is running a fleet migration job.
func (r *Registry) FleetRunning() bool { return r.fleetRunning.Load() > 0 }

// Listening reports whether the LISTEN connection is up (the cache is in use).
func (r *Registry) Listening() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listening
}

func (r *Registry) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, r.listen)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if err := db.ListenTenants(ctx, conn); err != nil {
		return err
	}
	if err := db.ListenControl(ctx, conn); err != nil {
		return err
	}
	r.setListening(true)
	r.forget("") // whatever was cached before may have changed unheard
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case db.TenantsChannel:
			r.forget(notifiedID(n.Payload))
		case db.S3CredentialsChannel:
			r.forgetCredential(notifiedID(n.Payload))
		case db.JWKSChannel:
			// The tenant's stacks load its keys when built: retiring them reloads.
			r.forget(notifiedID(n.Payload))
		}
	}
}

// notifiedID reads the reference's payload, the id as a JSON string; a bare id is
// accepted too.
func notifiedID(payload string) string {
	var id string
	if json.Unmarshal([]byte(payload), &id) == nil {
		return id
	}
	return payload
}

// decrypt turns a row into a Tenant.
func (r *Registry) decrypt(row db.TenantRow) (*Tenant, error) {
	t := &Tenant{
		ID: row.ID, MaxConnections: row.MaxConnections, JWKS: row.JWKS,
		FileSizeLimit: row.FileSizeLimit, ImageTransformation: row.ImageTransformation,
		S3Protocol: row.S3Protocol, MigrationsVersion: row.MigrationsVersion,
		MigrationsStatus: row.MigrationsStatus, TracingMode: row.TracingMode,
		ImageTransformationMaxResolution: row.ImageTransformationMaxResolution,
	}
	if t.JWKS == "null" {
		t.JWKS = ""
	}
	for _, f := range []struct {
		name string
		in   string
		out  *string
	}{
		{"anon_key", row.AnonKey, &t.AnonKey},
		{"service_key", row.ServiceKey, &t.ServiceKey},
		{"jwt_secret", row.JWTSecret, &t.JWTSecret},
		{"database_url", row.DatabaseURL, &t.DatabaseURL},
		{"database_pool_url", row.DatabasePoolURL, &t.DatabasePoolURL},
	} {
		if f.in == "" {
			continue
		}
		plain, err := passphrase.Decrypt(r.key, f.in)
		if err != nil {
			return nil, fmt.Errorf("tenants: %q: %s: %w", row.ID, f.name, err)
		}
		*f.out = plain
	}
	return t, nil
}
