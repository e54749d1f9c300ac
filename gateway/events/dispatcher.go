// Package events delivers the events the engine records in its outbox (stowage.events)
// to targets: the reference's webhook, S3 bucket notification webhooks, Postgres NOTIFY.
// It knows nothing of HTTP routes; cmd/stowage wires it beside the server.
//
// Contract: every committed event reaches every target it was routed to at least once
// (or is dead-lettered, visible and re-drivable); deliveries of one key to one target go
// out in commit order; every attempt carries the event's id so receivers can de-duplicate.
// Any number of dispatchers may share one database: they claim deliveries with row locks
// (FOR UPDATE SKIP LOCKED) and leases, so a dispatcher that dies only delays its share.
package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway"
)

// Target receives deliveries. Deliver returns nil once the receiver acknowledged.
type Target interface {
	Name() string
	Deliver(ctx context.Context, d db.Delivery) error
}

// Options configure a Dispatcher. Zero values take the defaults named.
type Options struct {
	DB    *db.DB
	Scope db.Scope // the service role: the outbox belongs to it
	// Targets receive every event (the reference webhook, NOTIFY).
	Targets []Target
	// S3Targets are the webhook targets bucket notification configurations name, by ARN.
	S3Targets map[string]Target
	// Purge, when set, receives the events of objects of public buckets that PurgeEvent
	// selects (automatic CDN purge).
	Purge *Purge
	Poll  time.Duration // between looks at an idle outbox; 1s
	// Linger is the shortest time between two looks at a busy outbox (at most Poll), unless
	// the last look found a full batch: events that commit meanwhile are routed, claimed and
	// recorded together, so each costs a share of a few transactions rather than a few of
	// its own, at the price of up to Linger of delivery latency. 50ms.
	Linger time.Duration
	Batch  int // events routed per transaction; 100
	// InFlight bounds the attempts under way at once per target (per dispatcher); 16. A
	// dispatcher holds up to max(4×InFlight, Batch) claimed deliveries per target, the
	// ones beyond InFlight waiting for a free attempt, so one look at the outbox can claim
	// a whole batch instead of InFlight of it.
	InFlight int
	// MaxAttempts and MaxAge dead-letter a delivery: after that many failed attempts, or
	// once its event is that old; 10 and 24h.
	MaxAttempts int
	MaxAge      time.Duration
	BackoffBase time.Duration // first retry delay; doubles per attempt, with jitter; 1s
	BackoffMax  time.Duration // 5m
	// Lease is how long a claimed delivery is reserved for its dispatcher; it must outlast
	// an attempt (the targets' timeout). 1m.
	Lease time.Duration
	// Retention keeps delivered events this long, then deletes them; 24h.
	Retention time.Duration
	Logger    *slog.Logger
	// Metrics, when set, are shared with other dispatchers (one per tenant in multi-tenant
	// mode, served once); nil: the dispatcher's own.
	Metrics *Metrics
}

// Dispatcher routes and delivers outbox events.
type Dispatcher struct {
	opts    Options
	targets []Target // all, general first
	byName  map[string]Target
	// owner names this dispatcher's fast batches (db.FastBatch); fast is set while one is
	// under way (it routes nothing meanwhile: the batch's lease holds routing back).
	owner string
	fast  atomic.Bool
	// fastDone is signalled when a fast batch has been recorded (Run waits for it after a
	// full one).
	fastDone chan struct{}
	// held has a token per claimed delivery of a target whose outcome is not recorded yet;
	// sems one per attempt under way (InFlight).
	held    map[string]chan struct{}
	sems    map[string]chan struct{}
	metrics *Metrics
	wake    chan struct{}
	wg      sync.WaitGroup // deliveries started and not yet recorded
	// attempting counts attempts whose outcome has not reached the recorder yet: the
	// recorder waits for them (up to Linger) to write one batch instead of several.
	attempting atomic.Int64
	// outcomes go to the recorder, which writes them in batches (one transaction for
	// all that finished meanwhile, instead of one per delivery).
	outcomes chan outcome
	// underway counts deliveries started whose outcome is not recorded yet (Drain: a
	// recorded acknowledgement may let the next delivery of its key go).
	underway atomic.Int64
	// idle holds, per target, a time before which Run does not claim its deliveries: a
	// claim that found none due set it (Poll ahead), and a recorded outcome of this
	// dispatcher clears it (it may let the next delivery of its key go). With a receiver
	// down every key's first delivery waits for its retry, and a claim walks the whole
	// backlog to find nothing; claimed at every look (each commit pokes the loop), that was
	// 0.65 of a core of Postgres at 13,000 pending (docs/events.md, "A receiver that is
	// down"). A retry that falls due meanwhile is claimed at most Poll late.
	idleMu sync.Mutex
	idle   map[string]time.Time
}

// outcome is a finished attempt waiting to be recorded; done runs once it is.
type outcome struct {
	f    db.Finished
	done func()
}

// New returns a dispatcher; Run starts it.
func New(opts Options) *Dispatcher {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.Poll, time.Second)
	def(&opts.Linger, 50*time.Millisecond)
	opts.Linger = min(opts.Linger, opts.Poll)
	def(&opts.MaxAge, 24*time.Hour)
	def(&opts.BackoffBase, time.Second)
	def(&opts.BackoffMax, 5*time.Minute)
	def(&opts.Lease, time.Minute)
	def(&opts.Retention, 24*time.Hour)
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.InFlight <= 0 {
		opts.InFlight = 16
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	d := &Dispatcher{opts: opts, held: map[string]chan struct{}{}, sems: map[string]chan struct{}{}, metrics: opts.Metrics,
		wake: make(chan struct{}, 1), fastDone: make(chan struct{}, 1), outcomes: make(chan outcome, 64)}
	d.targets = append(d.targets, opts.Targets...)
	for _, t := range opts.S3Targets {
		d.targets = append(d.targets, t)
	}
	if opts.Purge != nil {
		d.targets = append(d.targets, opts.Purge)
	}
	d.owner, d.byName = uuid.NewString(), map[string]Target{}
	for _, t := range d.targets {
		d.byName[t.Name()] = t
		d.held[t.Name()] = make(chan struct{}, max(4*opts.InFlight, opts.Batch))
		d.sems[t.Name()] = make(chan struct{}, opts.InFlight)
	}
	return d
}

// Metrics returns the dispatcher's Prometheus metrics.
func (d *Dispatcher) Metrics() *Metrics { return d.metrics }

// Run routes and delivers until ctx ends, then waits for the attempts under way (their
// outcome is recorded; an attempt cut short is retried after its lease). A dispatcher runs
// once: Run or Drain, not both, not twice.
func (d *Dispatcher) Run(ctx context.Context) {
	// A commit that recorded events wakes the loop at once (no wait for the next poll);
	// the linger below still keeps looks at a busy outbox apart, so events batch.
	defer d.opts.DB.OnEventsCommitted(d.poke)()
	recorded := make(chan struct{})
	go func() { d.record(ctx); close(recorded) }()
	defer func() { d.wg.Wait(); close(d.outcomes); <-recorded }()
	var lastSweep time.Time
	for ctx.Err() == nil {
		start := time.Now()
		found, full, more := d.step(ctx, true)
		if time.Since(lastSweep) > d.opts.Poll*10 || lastSweep.IsZero() {
			d.housekeep(ctx)
			lastSweep = time.Now()
		}
		if full {
			continue // more is waiting: no pause
		}
		if more {
			// A full fast batch is under way and more events wait behind it: look again as
			// soon as it is recorded, not a linger after this look. The linger gathers a
			// trickle of events into batches; after a full batch it would cap delivery at
			// Batch per Linger (2,000 events a second by default) however fast events come.
			// At most a linger, though: a batch held up by a slow receiver must not hold up
			// the claims of retries due meanwhile, which a look makes while it runs.
			d.pause(ctx, d.opts.Linger, d.fastDone)
			continue
		}
		wait := d.opts.Poll
		if found || d.opts.DB.RoutingHeldBack() {
			// Held back: the writers under way are likely done by then (those of another
			// gateway poke no one).
			wait = d.opts.Linger
		}
		d.pause(ctx, wait, d.wake)
		// Adaptive: however soon a finished delivery wakes the loop, looks at a busy outbox
		// stay Linger apart, so a steady trickle of writes is handled in batches.
		d.pause(ctx, d.opts.Linger-time.Since(start), nil)
	}
}

// Drain routes what is unrouted and delivers what is due until nothing is left to do now
// (events held back by writers under way are waited for: db.DB.RoutingHeldBack), or ctx
// ends, then waits for the attempts under way and returns once their outcomes are
// recorded. Deliveries that failed and back off, or wait for one that does, are left for a
// later run. It is the bounded form of Run for an outbox no dispatcher is running for (a
// tenant whose stack is not live, docs/multitenant.md); it also deletes delivered events
// past retention.
func (d *Dispatcher) Drain(ctx context.Context) {
	recorded := make(chan struct{})
	go func() { d.record(ctx); close(recorded) }()
	defer func() { d.wg.Wait(); close(d.outcomes); <-recorded }()
	for ctx.Err() == nil {
		// Read before the step: an outcome recorded during it pokes the loop for one more.
		before := d.underway.Load()
		busy, full, _ := d.step(ctx, false)
		if full {
			continue
		}
		if !busy && before == 0 && !d.opts.DB.RoutingHeldBack() {
			break
		}
		d.pause(ctx, d.opts.Poll, d.wake)
	}
	if _, err := d.opts.DB.SweepEvents(ctx, d.opts.Scope, d.opts.Retention); err != nil && ctx.Err() == nil {
		d.opts.Logger.Warn("events: sweep delivered events", "err", err)
	}
}

// poke wakes the loop if it is waiting; it never blocks.
func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// pause waits for wait, ctx's end or a value on wake (nil: none).
func (d *Dispatcher) pause(ctx context.Context, wait time.Duration, wake <-chan struct{}) {
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// step routes what is unrouted and starts the deliveries that are due and fit the
// in-flight limits; it reports whether it found work, whether it stopped at a limit (a
// full batch routed or claimed: the next step has work at once), and whether it started a
// full fast batch (more may be routed once that one is recorded). With skipIdle, targets
// whose last claim found nothing due are not claimed for until their idle time ends.
func (d *Dispatcher) step(ctx context.Context, skipIdle bool) (busy, full, more bool) {
	for ctx.Err() == nil {
		// One transaction routes a batch and claims what fits the in-flight limits.
		claims := d.claimsNow(time.Now(), skipIdle)
		limit := d.opts.Batch
		if d.fast.Load() {
			limit = 0 // our fast batch holds routing back until it is recorded
		}
		n, fb, ds, err := d.opts.DB.RouteAndClaim(ctx, d.opts.Scope, limit, d.route, claims, d.opts.Lease, d.owner)
		if err != nil {
			if ctx.Err() == nil {
				d.opts.Logger.Warn("events: route and claim", "err", err)
			}
			return busy, false, false
		}
		busy = busy || n > 0 || len(ds) > 0
		if fb != nil {
			select { // a signal of an earlier batch
			case <-d.fastDone:
			default:
			}
			more = n == d.opts.Batch
			d.fast.Store(true)
			d.wg.Add(1)
			d.underway.Add(1)
			go d.runFast(ctx, fb)
		}
		got := map[string]int{}
		for _, x := range ds {
			got[x.Target]++
			t := d.byName[x.Target]
			held := d.held[x.Target]
			held <- struct{}{}
			d.wg.Add(1)
			d.underway.Add(1)
			d.attempting.Add(1)
			go d.deliver(ctx, t, held, x, time.Now().Add(d.opts.Lease))
		}
		full = false
		for _, c := range claims {
			if got[c.Target] == c.Limit {
				full = true
			}
			if skipIdle && got[c.Target] == 0 {
				d.setIdle(c.Target, time.Now().Add(d.opts.Poll))
			}
		}
		if n < d.opts.Batch || fb != nil {
			break
		}
	}
	return busy, full, more
}

// claimsNow is what a step claims: up to the free in-flight room of each target, except
// targets idle at now when skipIdle.
func (d *Dispatcher) claimsNow(now time.Time, skipIdle bool) []db.Claim {
	var claims []db.Claim
	d.idleMu.Lock()
	defer d.idleMu.Unlock()
	for _, t := range d.targets {
		if skipIdle && now.Before(d.idle[t.Name()]) {
			continue
		}
		held := d.held[t.Name()]
		if free := cap(held) - len(held); free > 0 {
			claims = append(claims, db.Claim{Target: t.Name(), Limit: free})
		}
	}
	return claims
}

// setIdle makes Run leave target's deliveries unclaimed until until.
func (d *Dispatcher) setIdle(target string, until time.Time) {
	d.idleMu.Lock()
	defer d.idleMu.Unlock()
	if d.idle == nil {
		d.idle = map[string]time.Time{}
	}
	d.idle[target] = until
}

// clearIdle lets Run claim target's deliveries (all targets' when target is "") at once.
func (d *Dispatcher) clearIdle(target string) {
	d.idleMu.Lock()
	defer d.idleMu.Unlock()
	if target == "" {
		clear(d.idle)
	} else {
		delete(d.idle, target)
	}
}

// deliver makes one attempt at a claimed delivery and sends its outcome to the recorder.
func (d *Dispatcher) deliver(ctx context.Context, t Target, held chan struct{}, x db.Delivery, leaseEnd time.Time) {
	d.finish(t, held, x, d.attempt(ctx, t, x, leaseEnd))
}

// runFast makes the deliveries of a fast batch, each chain in order (a delivery that does
// not succeed stops its chain: the rest are not attempted), and records the batch. The
// batch is recorded with a detached context: what was attempted before a stop is kept.
func (d *Dispatcher) runFast(ctx context.Context, fb *db.FastBatch) {
	defer func() {
		d.clearIdle("") // rows it left may be the first of their keys now
		d.fast.Store(false)
		d.underway.Add(-1)
		d.poke()
		select {
		case d.fastDone <- struct{}{}:
		default:
		}
		d.wg.Done()
	}()
	leaseEnd := time.Now().Add(d.opts.Lease)
	var mu sync.Mutex
	var ds []db.Delivery
	var outs []db.DeliveryOutcome
	var wg sync.WaitGroup
	for _, chain := range fb.Chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := make([]db.DeliveryOutcome, len(chain))
			stopped := false
			for i, x := range chain {
				if stopped {
					res[i].Released = true
					continue
				}
				x.Attempts = 1
				res[i] = d.attempt(ctx, d.byName[x.Target], x, leaseEnd)
				stopped = !res[i].Delivered
			}
			mu.Lock()
			ds, outs = append(ds, chain...), append(outs, res...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := d.opts.DB.FinishFast(rctx, d.opts.Scope, fb, ds, outs); err != nil {
		// The lease runs out and the batch is routed and delivered again: at least once.
		d.opts.Logger.Warn("events: record a batch's deliveries", "deliveries", len(ds), "err", err)
	}
}

// attempt waits for a free attempt of t (InFlight), makes one and returns its outcome. A
// started attempt is detached from ctx: a stopping dispatcher lets it finish (bounded by
// the target's timeout) rather than leave it to the lease. One that has not started when
// ctx ends, or that could not start while most of its lease remained, is Released
// (unattempted: due again at once, for any dispatcher).
func (d *Dispatcher) attempt(ctx context.Context, t Target, x db.Delivery, leaseEnd time.Time) db.DeliveryOutcome {
	sem := d.sems[t.Name()]
	var o db.DeliveryOutcome
	acquired := false
	select {
	case sem <- struct{}{}:
		acquired = true
	case <-ctx.Done():
	}
	if ctx.Err() != nil || time.Until(leaseEnd) < d.opts.Lease/2 {
		if acquired {
			<-sem
		}
		o.Released = true
		return o
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Until(leaseEnd))
	defer cancel()
	start := time.Now()
	err := t.Deliver(actx, x)
	<-sem
	d.metrics.attempt.WithLabelValues(t.Name()).Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		o.Delivered = true
		d.metrics.delivered.WithLabelValues(t.Name()).Inc()
		d.metrics.latency.WithLabelValues(t.Name()).Observe(time.Since(x.CreatedAt).Seconds())
	case x.Attempts >= d.opts.MaxAttempts || time.Since(x.CreatedAt) > d.opts.MaxAge:
		o.Dead, o.Error = true, err.Error()
		d.metrics.failed.WithLabelValues(t.Name()).Inc()
		d.metrics.dead.WithLabelValues(t.Name()).Inc()
		d.opts.Logger.Warn("events: delivery dead-lettered", "target", t.Name(), "event_id", x.EventID, "type", x.Type,
			"attempts", x.Attempts, "err", err)
	default:
		o.RetryIn, o.Error = d.backoff(x.Attempts), err.Error()
		d.metrics.failed.WithLabelValues(t.Name()).Inc()
		d.metrics.retried.WithLabelValues(t.Name()).Inc()
		d.opts.Logger.Info("events: delivery failed, will retry", "target", t.Name(), "event_id", x.EventID,
			"attempts", x.Attempts, "retry_in", o.RetryIn.String(), "err", err)
	}
	if len(o.Error) > 1000 {
		o.Error = o.Error[:1000]
	}
	return o
}

// finish sends an attempt's outcome to the recorder; once recorded, the claim is let go.
func (d *Dispatcher) finish(t Target, held chan struct{}, x db.Delivery, o db.DeliveryOutcome) {
	// No longer under way before the outcome is sent: the recorder that receives it must
	// not wait (Linger) for this very attempt.
	d.attempting.Add(-1)
	d.outcomes <- outcome{f: db.Finished{ID: x.ID, Target: t.Name(), Outcome: o}, done: func() {
		d.clearIdle(t.Name())
		<-held
		d.underway.Add(-1)
		d.poke()
		d.wg.Done()
	}}
}

// maxRecordBatch bounds the outcomes recorded in one transaction.
const maxRecordBatch = 256

// record writes outcomes until the channel closes, in batches: one UPDATE for all the
// acknowledged deliveries of a batch. A batch is what finished while the previous one was
// being written, plus what the attempts under way deliver within Linger. The context is
// detached: outcomes of attempts made before a stop are still recorded.
func (d *Dispatcher) record(ctx context.Context) {
	for first := range d.outcomes {
		batch := d.gather(first)
		fs := make([]db.Finished, len(batch))
		for i, o := range batch {
			fs[i] = o.f
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		if err := d.opts.DB.FinishDeliveries(rctx, d.opts.Scope, fs); err != nil {
			// Their leases run out and the deliveries are made again: at least once.
			d.opts.Logger.Warn("events: record delivery outcomes", "deliveries", len(fs), "err", err)
		}
		cancel()
		for _, o := range batch {
			o.done()
		}
	}
}

// gather returns first and the outcomes that follow it: those waiting already and those of
// attempts under way, until none is under way, Linger has passed or the batch is full.
func (d *Dispatcher) gather(first outcome) []outcome {
	batch := []outcome{first}
	var timeout <-chan time.Time
	for len(batch) < maxRecordBatch {
		select {
		case o, ok := <-d.outcomes:
			if !ok {
				return batch
			}
			batch = append(batch, o)
			continue
		default:
		}
		if d.attempting.Load() == 0 {
			return batch
		}
		if timeout == nil {
			t := time.NewTimer(d.opts.Linger)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case o, ok := <-d.outcomes:
			if !ok {
				return batch
			}
			batch = append(batch, o)
		case <-timeout:
			return batch
		}
	}
	return batch
}

// backoff is the delay after the attempt-th failure: BackoffBase doubled per attempt up to
// BackoffMax, then "equal jitter" (half fixed, half random) so that retries of many
// deliveries that failed together spread out.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	b := d.opts.BackoffBase
	for i := 1; i < attempt && b < d.opts.BackoffMax; i++ {
		b *= 2
	}
	b = min(b, d.opts.BackoffMax)
	return b/2 + time.Duration(rand.Int64N(int64(b/2)+1))
}

// housekeep deletes delivered events past retention and refreshes the gauges.
func (d *Dispatcher) housekeep(ctx context.Context) {
	if _, err := d.opts.DB.SweepEvents(ctx, d.opts.Scope, d.opts.Retention); err != nil && ctx.Err() == nil {
		d.opts.Logger.Warn("events: sweep delivered events", "err", err)
	}
	c, err := d.opts.DB.CountEvents(ctx, d.opts.Scope)
	if err != nil {
		return
	}
	d.metrics.unrouted.Set(float64(c.Unrouted))
	for _, t := range d.targets {
		d.metrics.pending.WithLabelValues(t.Name()).Set(float64(c.Pending[t.Name()]))
		d.metrics.deadNow.WithLabelValues(t.Name()).Set(float64(c.Dead[t.Name()]))
	}
}

// route returns the deliveries of evs: one per general target, and one per S3 target a
// matching rule of the event's bucket names.
func (d *Dispatcher) route(ctx context.Context, tx db.Tx, evs []db.Event) ([]db.Delivery, error) {
	var out []db.Delivery
	var configs map[string]gateway.NotificationConfig
	if len(d.opts.S3Targets) > 0 {
		var err error
		if configs, err = d.bucketConfigs(ctx, tx, evs); err != nil {
			return nil, err
		}
	}
	var public map[string]bool
	if d.opts.Purge != nil {
		var err error
		if public, err = d.publicBuckets(ctx, tx, evs); err != nil {
			return nil, err
		}
	}
	for _, ev := range evs {
		for _, t := range d.opts.Targets {
			out = append(out, db.Delivery{Event: ev, Target: t.Name()})
		}
		if public[ev.BucketID] && PurgeEvent(ev.Type) {
			out = append(out, db.Delivery{Event: ev, Target: d.opts.Purge.Name()})
		}
		cfg, ok := configs[ev.BucketID]
		if !ok || ev.S3Name == "" {
			continue
		}
		seen := map[string]bool{}
		for _, r := range cfg.Rules {
			if seen[r.ARN] || d.opts.S3Targets[r.ARN] == nil || !r.Matches(ev.S3Name, ev.Name) {
				continue
			}
			seen[r.ARN] = true
			out = append(out, db.Delivery{Event: ev, Target: d.opts.S3Targets[r.ARN].Name(), ConfigID: r.ID})
		}
	}
	return out, nil
}

// publicBuckets reports which buckets of evs' purgeable events are public.
func (d *Dispatcher) publicBuckets(ctx context.Context, tx db.Tx, evs []db.Event) (map[string]bool, error) {
	var buckets []string
	seen := map[string]bool{}
	for _, ev := range evs {
		if PurgeEvent(ev.Type) && !seen[ev.BucketID] {
			seen[ev.BucketID] = true
			buckets = append(buckets, ev.BucketID)
		}
	}
	if len(buckets) == 0 {
		return nil, nil
	}
	return tx.PublicBuckets(ctx, buckets)
}

func (d *Dispatcher) bucketConfigs(ctx context.Context, tx db.Tx, evs []db.Event) (map[string]gateway.NotificationConfig, error) {
	var buckets []string
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.S3Name != "" && !seen[ev.BucketID] {
			seen[ev.BucketID] = true
			buckets = append(buckets, ev.BucketID)
		}
	}
	raw, err := tx.BucketNotificationConfigs(ctx, buckets)
	if err != nil {
		return nil, err
	}
	out := make(map[string]gateway.NotificationConfig, len(raw))
	for b, r := range raw {
		var cfg gateway.NotificationConfig
		if json.Unmarshal(r, &cfg) == nil {
			out[b] = cfg
		}
	}
	return out, nil
}
