package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/events"
	"github.com/stowage/stowage/gateway/tenants"
)

// Bounds of the tenant event sweep (docs/multitenant.md, "Events").
const (
	// tenantDrainBudget bounds one tenant's drain: a tenant with a large backlog, or whose
	// receiver answers slowly, yields to the next tenant and is resumed on a later sweep.
	tenantDrainBudget = time.Minute
	// tenantDrainConns bounds the connections of a drain's short-lived pool (routing and
	// claiming in one, recording outcomes in the other).
	tenantDrainConns = 2
)

// tenantEvents delivers the events tenants' engines record in their own databases, in
// multi-tenant mode:
//   - while a tenant's stack is live on this gateway, a dispatcher runs on its pool
//     (startDispatcher), as serve runs one on its database;
//   - a sweep delivers what is due in the outbox of every tenant with no live stack here:
//     at start (events recorded before a restart), every STOWAGE_EVENTS_TENANT_SWEEP
//     seconds (retries of tenants gone idle, stacks of a gateway that died), and soon
//     after a stack of this gateway closed (events it left). One tenant at a time, through
//     a pool of at most tenantDrainConns connections opened for it and closed after, for
//     at most tenantDrainBudget; with a control database, one gateway at a time sweeps
//     (an advisory lock). Dispatchers on one outbox share it safely (SKIP LOCKED, leases),
//     so a stack that comes back while its tenant is drained, or another gateway's, only
//     shares the work.
type tenantEvents struct {
	cfg      Config
	dispatch bool // STOWAGE_EVENTS_DISPATCH: deliver from this gateway; else only record
	client   *events.HTTPClient
	metrics  *events.Metrics
	log      *slog.Logger
	// list gives every tenant (the control database); nil: no periodic sweep.
	list func(ctx context.Context) ([]*tenants.Tenant, error)
	get  func(ctx context.Context, id string) (*tenants.Tenant, error)
	// live reports whether tenant id has a stack on this gateway (its dispatcher runs).
	live func(id string) bool
	// lock, when set, takes the cluster-wide sweep lock; ok false: another gateway sweeps.
	lock func(ctx context.Context) (release func(), ok bool, err error)
	// closed, when set, is told after a tenant's stack closed (tests).
	closed func(id string)

	mu      sync.Mutex
	retired map[string]bool // tenants whose stack closed since the last look
	wake    chan struct{}
}

// tenantLister is a tenants.Source that can also list every tenant (the Registry).
type tenantLister interface {
	List(ctx context.Context) ([]*tenants.Tenant, error)
}

// The control plane's source lists tenants: serveControlPlane's gateways sweep.
var _ tenantLister = (*tenants.Registry)(nil)

// newTenantEvents returns the events of multi-tenant mode; nil when no event target is
// configured (engines then record none).
func newTenantEvents(cfg Config, mt multiTenant, log *slog.Logger) *tenantEvents {
	if !cfg.eventsEnabled() {
		return nil
	}
	te := &tenantEvents{cfg: cfg, dispatch: cfg.EventsDispatch, client: eventsHTTPClient(cfg),
		metrics: events.NewMetrics(), log: log, get: mt.Source.Get, closed: mt.StackClosed,
		retired: map[string]bool{}, wake: make(chan struct{}, 1), live: func(string) bool { return false }}
	if l, ok := mt.Source.(tenantLister); ok {
		te.list = l.List
	}
	if cfg.MTDatabaseURL != "" {
		te.lock = func(ctx context.Context) (func(), bool, error) {
			conn, err := pgx.Connect(ctx, string(cfg.MTDatabaseURL))
			if err != nil {
				return nil, false, err
			}
			release := func() { _ = conn.Close(context.Background()) } // closing releases the lock
			ok, err := db.TryTenantEventsLock(ctx, conn)
			if err != nil || !ok {
				release()
				return nil, false, err
			}
			return release, true, nil
		}
	}
	return te
}

// options are the dispatcher options of tenant t over d: the gateway's targets, the
// tenant's id in CDN purges, the shared client and metrics.
func (te *tenantEvents) options(t *tenants.Tenant, d *db.DB, log *slog.Logger) events.Options {
	tcfg := te.cfg
	tcfg.TenantID = t.ID
	tcfg.ImageTransform = te.cfg.ImageTransform && t.ImageTransformation
	opts := dispatcherOptions(tcfg, d, te.client, log)
	opts.Metrics = te.metrics
	return opts
}

// startDispatcher runs tenant t's dispatcher on its stack's pool until ctx ends; wait
// returns once it stopped (its attempts under way recorded), before the pool closes.
func (te *tenantEvents) startDispatcher(ctx context.Context, t *tenants.Tenant, d *db.DB, log *slog.Logger) (wait func()) {
	if te == nil || !te.dispatch {
		return func() {}
	}
	disp := events.New(te.options(t, d, log))
	done := make(chan struct{})
	go func() { disp.Run(ctx); close(done) }()
	return func() { <-done }
}

// stackClosed is told that tenant id's stack closed: what its dispatcher left (events
// committed after its last look, retries backing off) is drained soon.
func (te *tenantEvents) stackClosed(id string) {
	if te == nil {
		return
	}
	if te.dispatch {
		te.mu.Lock()
		te.retired[id] = true
		te.mu.Unlock()
		select {
		case te.wake <- struct{}{}:
		default:
		}
	}
	if te.closed != nil {
		te.closed(id)
	}
}

// run sweeps until ctx ends: at once, then every STOWAGE_EVENTS_TENANT_SWEEP seconds,
// and drains tenants whose stack closed as they are reported.
func (te *tenantEvents) run(ctx context.Context) {
	if te == nil || !te.dispatch {
		return
	}
	interval := time.Duration(max(te.cfg.EventsTenantSweep, 1)) * time.Second
	next := time.Now()
	for ctx.Err() == nil {
		te.drainRetired(ctx)
		wait := interval
		if te.list != nil {
			if !time.Now().Before(next) {
				te.sweep(ctx)
				next = time.Now().Add(interval)
			}
			wait = time.Until(next)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-te.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// drainRetired drains the tenants whose stack closed, unless one is live again.
func (te *tenantEvents) drainRetired(ctx context.Context) {
	te.mu.Lock()
	ids := te.retired
	te.retired = map[string]bool{}
	te.mu.Unlock()
	for id := range ids {
		if ctx.Err() != nil || te.live(id) {
			continue
		}
		t, err := te.get(ctx, id)
		if err != nil {
			continue // deleted meanwhile, or the control database is unavailable: the sweep retries
		}
		te.drain(ctx, t)
	}
}

// sweep drains every tenant with no live stack here, one at a time.
func (te *tenantEvents) sweep(ctx context.Context) {
	if te.lock != nil {
		release, ok, err := te.lock(ctx)
		if err != nil {
			if ctx.Err() == nil {
				te.log.Warn("events: tenant sweep lock", "err", err)
			}
			return
		}
		if !ok {
			return // another gateway sweeps
		}
		defer release()
	}
	all, err := te.list(ctx)
	if err != nil {
		if ctx.Err() == nil {
			te.log.Warn("events: list tenants", "err", err)
		}
		return
	}
	for _, t := range all {
		if ctx.Err() != nil {
			return
		}
		te.drainRetired(ctx) // a stack closed meanwhile: its events first
		if !te.live(t.ID) {
			te.drain(ctx, t)
		}
	}
}

// drain delivers what is due in tenant t's outbox through a pool opened for it.
func (te *tenantEvents) drain(ctx context.Context, t *tenants.Tenant) {
	ctx, cancel := context.WithTimeout(ctx, tenantDrainBudget)
	defer cancel()
	log := te.log.With("tenant", t.ID)
	url := t.DatabaseURL
	if t.DatabasePoolURL != "" {
		url = t.DatabasePoolURL
	}
	d, err := db.Open(ctx, url, db.Options{MaxConns: tenantDrainConns,
		ConnectTimeout:   time.Duration(te.cfg.DBConnTimeout) * time.Millisecond,
		StatementTimeout: time.Duration(te.cfg.DBStmtTimeout) * time.Millisecond,
		ApplicationName:  "Stowage " + version + " events"})
	if err != nil {
		log.Warn("events: open tenant database", "err", err)
		return
	}
	defer d.Close()
	scope := db.Scope{Role: te.cfg.DBServiceRole}
	due, err := d.EventsDue(ctx, scope)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("events: look at tenant outbox", "err", err)
		}
		return
	}
	if !due {
		return
	}
	events.New(te.options(t, d, log)).Drain(ctx)
}
