package db

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Event is one row of the outbox (stowage.events).
type Event struct {
	ID        int64 // assigned by the database, in insert order
	EventID   string
	Type      string
	S3Name    string
	BucketID  string
	Name      string
	Version   string
	Size      int64
	ETag      string
	Body      json.RawMessage
	CreatedAt time.Time
}

// AddEvents inserts events into the outbox in the caller's transaction (one round trip), so
// they commit or roll back with the change they describe. The transaction must run as the
// service role.
func (t Tx) AddEvents(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	queueAddEvents(b, evs)
	err := t.tx.SendBatch(ctx, b).Close()
	t.recordedEvents()
	return Classify(err)
}

// recordedEvents notes that t recorded events: its commit tells OnEventsCommitted's hooks.
func (t Tx) recordedEvents() {
	if t.events != nil {
		*t.events = true
	}
}

// OnEventsCommitted calls f (which must not block) after every commit of this DB's that
// recorded events, so a dispatcher in this process can look at the outbox at once instead
// of at its next poll. The returned function removes f.
func (d *DB) OnEventsCommitted(f func()) (remove func()) {
	h := &eventHook{f: f}
	d.swapEventHooks(func(hs []*eventHook) []*eventHook { return append(hs, h) })
	return func() {
		d.swapEventHooks(func(hs []*eventHook) []*eventHook {
			var out []*eventHook
			for _, x := range hs {
				if x != h {
					out = append(out, x)
				}
			}
			return out
		})
	}
}

type eventHook struct{ f func() }

// swapEventHooks replaces the hooks with edit's result on a copy of them.
func (d *DB) swapEventHooks(edit func([]*eventHook) []*eventHook) {
	for {
		old := d.eventHooks.Load()
		var hs []*eventHook
		if old != nil {
			hs = append(hs, *old...)
		}
		hs = edit(hs)
		if d.eventHooks.CompareAndSwap(old, &hs) {
			return
		}
	}
}

func (d *DB) eventsCommitted() {
	if hooks := d.eventHooks.Load(); hooks != nil {
		for _, h := range *hooks {
			h.f()
		}
	}
}

// QueueAddEvents is AddEvents sent with COMMIT, in the commit's round trip: the write path
// records its event without a round trip of its own. The transaction must run as the
// service role when it commits (not only inside AsRole: a queued statement runs as the
// outer scope). Ids are then taken at commit, under the commit's locks, so events of one
// key get ids in commit order.
func (t Tx) QueueAddEvents(evs []Event) {
	if len(evs) > 0 {
		queueAddEvents(t.atCommit, evs)
		t.recordedEvents()
	}
}

// inDispatchTx is InTx for the dispatcher's bookkeeping (routing, leases, outcomes), with
// two settings sent in the first pipeline (no round trip of their own):
//   - COMMIT is asynchronous: the bookkeeping need not wait for the WAL flush. A Postgres
//     crash may lose the last of these transactions, each whole: their events are then
//     routed or delivered again (at least once, duplicates with the same ids), never skipped.
//   - Prepared statements get the generic plan at once. By default each pooled connection
//     plans a statement afresh for its first five executions; the claim and hold-back
//     queries take 2.5–3 ms each to plan, and with twenty connections sharing the
//     dispatcher's few transactions a second those plans cost Postgres more than the
//     events' own writes (pg_stat_statements with track_planning, docs/events.md run 6).
//     Their parameters (a target, arrays of keys) gain nothing from a custom plan.
func (d *DB) inDispatchTx(ctx context.Context, s Scope, fn func(Tx) error) error {
	return d.inTxWith(ctx, s, pgx.TxOptions{}, queueDispatchSettings, fn)
}

func queueDispatchSettings(b *pgx.Batch) {
	b.Queue(`set local synchronous_commit = off`)
	b.Queue(`set local plan_cache_mode = force_generic_plan`)
}

// eventsWriteLock is the advisory lock every transaction that records events holds, shared,
// from before its insert into the outbox (which takes the event's id) until it ends. The
// router reads who holds it (eventsHighWater) to learn an id below which no event can still
// commit: ids are taken when a row is inserted, so a lower id can commit after a higher one,
// and routing by "the highest id seen" alone would skip it for good. It is above 2^32, so
// it meets no per-key lock (those hash to 32 bits).
const eventsWriteLock = 0x53746f7745764d6b // "StowEvMk"

// queueAddEvents queues the insert of evs on b, the shared events lock taken in the same
// statement. One event (the common case: one change, one event) is one row of plain values;
// unnest over arrays costs Postgres noticeably more per statement.
func queueAddEvents(b *pgx.Batch, evs []Event) {
	if len(evs) == 1 {
		e := evs[0]
		b.Queue(addEventSQL, e.EventID, e.Type, e.S3Name, e.BucketID, e.Name, e.Version, e.ETag, string(e.Body), e.Size)
		return
	}
	b.Queue(addEventsSQL, addEventsArgs(evs)...)
}

// withEventsLock takes eventsWriteLock, shared, before the insert it prefixes takes any id:
// the materialized CTE yields its row (the lock taken) before the insert forms a row and
// evaluates the id's default. One statement instead of a select of its own per write.
var withEventsLock = `with events_lock as materialized (select pg_advisory_xact_lock_shared(` +
	strconv.FormatInt(eventsWriteLock, 10) + `)) `

var addEventSQL = withEventsLock + `insert into stowage.events (event_id, type, s3_name, bucket_id, name, version, etag, body, size)
		select $1::uuid, $2, $3, $4, $5, $6, $7, $8::jsonb, $9 from events_lock`

var addEventsSQL = withEventsLock + `insert into stowage.events (event_id, type, s3_name, bucket_id, name, version, etag, body, size)
		select u.id::uuid, u.t, u.s, u.b, u.n, u.v, u.e, u.body::jsonb, u.sz
		from events_lock, unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])
			with ordinality as u(id, t, s, b, n, v, e, body, sz, ord)
		order by u.ord`

func addEventsArgs(evs []Event) []any {
	n := len(evs)
	ids, types, s3, buckets, names, versions, etags, bodies := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	sizes := make([]int64, n)
	for i, e := range evs {
		ids[i], types[i], s3[i], buckets[i], names[i], versions[i], etags[i], bodies[i], sizes[i] =
			e.EventID, e.Type, e.S3Name, e.BucketID, e.Name, e.Version, e.ETag, string(e.Body), e.Size
	}
	return []any{ids, types, s3, buckets, names, versions, etags, bodies, sizes}
}

// Delivery is one event on its way to one target.
type Delivery struct {
	Event
	Target   string
	ConfigID string
	Attempts int // including the current one once claimed
}

// routeLock is the advisory lock one router holds while routing: a single router at a time
// keeps deliveries of one key in event order even with many dispatchers.
const routeLock = 0x53746f7745767473 // "StowEvts"

// RouteEvents routes up to limit unrouted events in id order: route returns the deliveries
// of the batch (it may read bucket settings through tx); they are inserted and the router's
// mark moved past the batch in one transaction. It returns how many events it routed (0 when another
// dispatcher is routing right now).
func (d *DB) RouteEvents(ctx context.Context, s Scope, limit int, route func(ctx context.Context, tx Tx, evs []Event) ([]Delivery, error)) (int, error) {
	n, _, _, err := d.RouteAndClaim(ctx, s, limit, route, nil, 0, "")
	return n, err
}

// Claim asks for up to Limit due deliveries of Target.
type Claim struct {
	Target string
	Limit  int
}

// FastBatch is deliveries routed without rows of their own: nothing held them back (no
// earlier delivery of their key or bucket pending for their target), so they are attempted
// at once, and only those that do not succeed get a row (FinishFast). The route mark's lease
// (owner, the events up to LeasedTo, for the lease's time) covers them meanwhile: no other
// router routes past the mark while it runs, and if its owner dies, the next router routes
// the same events again once it ends (duplicates by retry, same event ids).
type FastBatch struct {
	Owner    string
	LeasedTo int64
	// Chains are the deliveries in the order they must be made: one chain per target and
	// key (per target and bucket where the batch holds a bucket event of the bucket), each
	// in event order; chains are independent of one another.
	Chains [][]Delivery
}

// RouteAndClaim is RouteEvents and then ClaimDeliveries for each of claims, in one
// transaction: a dispatcher's look at the outbox costs one transaction, not one per step.
// With owner set, the deliveries routed that nothing holds back are returned as a FastBatch
// instead of being inserted (no row is written for a delivery that succeeds first time); no
// events are routed while another FastBatch's lease runs. Without owner, routed deliveries
// are inserted, already claimed when they are due at once and fit the claims' limits.
func (d *DB) RouteAndClaim(ctx context.Context, s Scope, limit int, route func(ctx context.Context, tx Tx, evs []Event) ([]Delivery, error),
	claims []Claim, lease time.Duration, owner string) (int, *FastBatch, []Delivery, error) {
	var hw, mark int64
	if limit > 0 {
		var err error
		hw, mark, err = d.eventsHighWater(ctx)
		switch {
		case err != nil:
			return 0, nil, nil, err
		case hw <= mark:
			limit = 0 // nothing to route: only claim
		}
	}
	var routed int
	var fast *FastBatch
	var claimed []Delivery
	err := d.inDispatchTx(ctx, s, func(tx Tx) error {
		routed, fast, claimed = 0, nil, nil
		left := make(map[string]int, len(claims))
		for _, c := range claims {
			left[c.Target] = c.Limit
		}
		var err error
		if limit > 0 {
			if routed, fast, claimed, err = tx.routeEvents(ctx, limit, hw, route, left, lease, owner); err != nil {
				return err
			}
		}
		for _, c := range claims {
			if left[c.Target] <= 0 {
				continue
			}
			ds, err := tx.claimDeliveries(ctx, c.Target, left[c.Target], lease)
			if err != nil {
				return err
			}
			claimed = append(claimed, ds...)
		}
		return nil
	})
	if err != nil {
		return 0, nil, nil, Classify(err)
	}
	return routed, fast, claimed, nil
}

// highWater is the router's knowledge of which event ids are final (committed, or never
// will be): final, and a candidate id that becomes final once every transaction that held
// eventsWriteLock when it was read has ended.
type highWater struct {
	mu        sync.Mutex
	final     int64
	candidate int64
	holders   []string // virtual transaction ids; nil: no candidate
	mark      int64    // the router's mark, as last read
}

// RoutingHeldBack reports whether the last look at the outbox (RouteAndClaim) found
// committed events it could not route yet, because transactions recording events were under
// way: a later look routes them once those have ended.
func (d *DB) RoutingHeldBack() bool {
	h := &d.hw
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.holders != nil && h.candidate > max(h.final, h.mark)
}

// highWaterSQL reads the highest visible event id, the router's mark and the virtual
// transactions holding eventsWriteLock, in one statement. Its snapshot is taken before
// pg_locks is read, so a transaction with an id at or below that highest id that had not
// committed in the snapshot either still holds the lock when pg_locks is read or has ended.
const highWaterSQL = `select coalesce((select max(id) from stowage.events), 0), (select routed_to from stowage.event_route_mark),
		array(select virtualtransaction from pg_locks where locktype = 'advisory' and granted
			and classid = $1 and objid = $2 and objsubid = 1
			and database = (select oid from pg_database where datname = current_database()))`

// eventsHighWater returns an event id at and below which every event is final, and the
// router's mark. It takes no lock and waits for nothing: a writer recording events never
// waits for the router. (Taking eventsWriteLock exclusively for an instant, as before, made
// every new writer queue behind the router until all writers under way had committed:
// 2–3 ms of stalled uploads on each look at a busy outbox.)
//   - No transaction holds the lock: the highest id is final now.
//   - Otherwise that id is the candidate, final once all of those holders have ended, which
//     a later call sees (their virtual transaction ids, unique while the server runs, are
//     gone from pg_locks); meanwhile the call returns the last final id. A candidate is
//     kept until proven, so writers that overlap without end still let it through.
//
// Every router of the database may hold its own knowledge: each proves its own.
func (d *DB) eventsHighWater(ctx context.Context) (hw, mark int64, err error) {
	var top int64
	var holders []string
	if err := d.pool.QueryRow(ctx, highWaterSQL, uint32(eventsWriteLock>>32), uint32(eventsWriteLock&0xffffffff)).
		Scan(&top, &mark, &holders); err != nil {
		return 0, 0, Classify(err)
	}
	h := &d.hw
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mark = mark
	if h.holders != nil && !slices.ContainsFunc(h.holders, func(v string) bool { return slices.Contains(holders, v) }) {
		h.final, h.holders = max(h.final, h.candidate), nil
	}
	switch {
	case len(holders) == 0:
		h.final, h.holders = max(h.final, top), nil
	case h.holders == nil:
		h.candidate, h.holders = top, holders
	}
	return h.final, mark, nil
}

// routeDeliveriesSQL inserts deliveries ($1 event ids, $2 targets, $3 okeys, $4 config ids);
// those with $5 set are inserted claimed (first attempt, leased for $6 ms) unless an earlier
// delivery of their key, of their bucket's own events or, for a bucket event, of any key of
// the bucket is pending for the target (the probes of claimSQL; every row already there is
// of an earlier event). It returns the claimed ones.
const routeDeliveriesSQL = `with u as (
			select u.id, u.target, u.okey, u.config, u.claim
				and not exists (select 1 from stowage.event_deliveries p
					where p.target = u.target and p.okey = u.okey and p.state = 'pending')
				and not exists (select 1 from stowage.event_deliveries p
					where p.target = u.target and p.okey = split_part(u.okey, '/', 1) || '/' and p.state = 'pending')
				and (right(u.okey, 1) <> '/' or not exists (select 1 from stowage.event_deliveries p
					where p.target = u.target and p.okey >= u.okey and p.okey < left(u.okey, -1) || '0' and p.state = 'pending')) as ok
			from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bool[]) as u(id, target, okey, config, claim)),
		i as (
			insert into stowage.event_deliveries (event_id, target, okey, config_id, attempts, next_at)
			select id, target, okey, config, case when ok then 1 else 0 end,
				case when ok then now() + $6::float8 * interval '1 millisecond' else now() end
			from u on conflict do nothing
			returning event_id, target, attempts)
		select event_id, target from i where attempts = 1`

// routeEvents routes up to limit events past the router's mark and at most hw (ids up to
// hw are final: eventsHighWater); the deliveries it may claim at once (left: how many per
// target, lowered by those it claims) it inserts claimed and returns.
func (t Tx) routeEvents(ctx context.Context, limit int, hw int64, route func(ctx context.Context, tx Tx, evs []Event) ([]Delivery, error),
	left map[string]int, lease time.Duration, owner string) (int, *FastBatch, []Delivery, error) {
	var locked bool
	if err := t.tx.QueryRow(ctx, `select pg_try_advisory_xact_lock($1)`, int64(routeLock)).Scan(&locked); err != nil || !locked {
		return 0, nil, nil, err
	}
	// The mark is read under the route lock: another router may have moved it since
	// eventsHighWater. A fast batch whose lease runs holds routing back; one whose lease ran
	// out is routed again (routed_to did not move past it).
	var from int64
	var leased bool
	if err := t.tx.QueryRow(ctx, `select routed_to, coalesce(lease_until > now(), false) from stowage.event_route_mark`).
		Scan(&from, &leased); err != nil || leased {
		return 0, nil, nil, err
	}
	// Events an older router flagged routed (before migration 0016) are skipped.
	rows, err := t.tx.Query(ctx, `select id, event_id::text, type, s3_name, bucket_id, name, version, size, etag, body, created_at
		from stowage.events where id > $3 and id <= $2 and not routed
		order by id limit $1`, limit, hw, from)
	if err != nil {
		return 0, nil, nil, err
	}
	evs, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return 0, nil, nil, err
	}
	// Up to hw everything is routed unless the batch was full: then up to its last event.
	to := hw
	if len(evs) == limit {
		to = evs[len(evs)-1].ID
	}
	if len(evs) == 0 {
		_, err := t.tx.Exec(ctx, `update stowage.event_route_mark set routed_to = $1, leased_to = null, lease_owner = null,
			lease_until = null where routed_to < $1`, to)
		return 0, nil, nil, err
	}
	ds, err := route(ctx, t, evs)
	if err != nil {
		return 0, nil, nil, err
	}
	if owner != "" {
		fast, err := t.routeFast(ctx, ds, to, lease, owner)
		return len(evs), fast, nil, err
	}
	var claimed []Delivery
	b := &pgx.Batch{} // one round trip for both writes
	if len(ds) > 0 {
		n := len(ds)
		ids, targets, keys, configs, claim := make([]int64, n), make([]string, n), make([]string, n), make([]string, n), make([]bool, n)
		offer := map[string]int{} // claims offered per target
		// Within the batch, a delivery may be claimed only if none of its batch is ahead of
		// it (same key; the bucket's own events; for a bucket event, any key of the bucket).
		type tk struct{ target, key string }
		seen := map[tk]bool{}
		for i, x := range ds {
			ids[i], targets[i], keys[i], configs[i] = x.ID, x.Target, x.BucketID+"/"+x.Name, x.ConfigID
			bucket := tk{x.Target, "\x00" + x.BucketID} // any delivery of the bucket so far
			bucketEv := tk{x.Target, x.BucketID + "/"}  // a bucket event so far
			free := offer[x.Target] < left[x.Target] && !seen[bucketEv]
			if x.Name == "" {
				free = free && !seen[bucket]
			} else {
				free = free && !seen[tk{x.Target, keys[i]}]
			}
			if free {
				claim[i] = true
				offer[x.Target]++
			}
			seen[tk{x.Target, keys[i]}], seen[bucket] = true, true
		}
		b.Queue(routeDeliveriesSQL, ids, targets, keys, configs, claim, lease.Milliseconds()).Query(func(rows pgx.Rows) error {
			type key struct {
				id     int64
				target string
			}
			got := map[key]bool{}
			var k key
			if _, err := pgx.ForEachRow(rows, []any{&k.id, &k.target}, func() error { got[k] = true; return nil }); err != nil {
				return err
			}
			for _, x := range ds {
				if got[key{x.ID, x.Target}] {
					x.Attempts = 1
					claimed = append(claimed, x)
					left[x.Target]--
				}
			}
			return nil
		})
	}
	b.Queue(`update stowage.event_route_mark set routed_to = $1, leased_to = null, lease_owner = null, lease_until = null
		where routed_to < $1`, to)
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, nil, nil, err
	}
	t.db.noteDeliveryRows(len(ds))
	return len(evs), nil, claimed, nil
}

// heldBackSQL returns the positions (1-based) of deliveries ($1 targets, $2 okeys) held back
// by a pending delivery of their key, of their bucket's own events or, for a bucket event,
// of any key of the bucket (the probes of claimSQL). Every such row is of an earlier event,
// or of the same batch routed before by a router whose lease ran out (it then goes to the
// row's place in the order, after its own row or before a later event's row).
const heldBackSQL = `select u.ord from unnest($1::text[], $2::text[]) with ordinality as u(target, okey, ord)
		where exists (select 1 from stowage.event_deliveries p
				where p.target = u.target and p.okey = u.okey and p.state = 'pending')
			or exists (select 1 from stowage.event_deliveries p
				where p.target = u.target and p.okey = split_part(u.okey, '/', 1) || '/' and p.state = 'pending')
			or (right(u.okey, 1) = '/' and exists (select 1 from stowage.event_deliveries p
				where p.target = u.target and p.okey >= u.okey and p.okey < left(u.okey, -1) || '0' and p.state = 'pending'))`

// routeFast splits ds (the deliveries of the events up to to, in event order) into the fast
// batch and the rows of those held back, inserts the rows and leases the batch to owner.
func (t Tx) routeFast(ctx context.Context, ds []Delivery, to int64, lease time.Duration, owner string) (*FastBatch, error) {
	n := len(ds)
	targets, keys := make([]string, n), make([]string, n)
	type tb struct{ target, bucket string }
	bucketEvents := map[tb]bool{}
	for i, x := range ds {
		targets[i], keys[i] = x.Target, x.BucketID+"/"+x.Name
		if x.Name == "" {
			bucketEvents[tb{x.Target, x.BucketID}] = true
		}
	}
	held := map[int]bool{}
	if n > 0 {
		rows, err := t.tx.Query(ctx, heldBackSQL, targets, keys)
		if err != nil {
			return nil, err
		}
		var ord int
		if _, err := pgx.ForEachRow(rows, []any{&ord}, func() error { held[ord-1] = true; return nil }); err != nil {
			return nil, err
		}
	}
	// A chain is held back from its first held delivery on: what follows in it waits too.
	fb := &FastBatch{Owner: owner, LeasedTo: to}
	chains := map[string]int{} // chain key → index in fb.Chains
	slow := map[string]bool{}
	var slowRows []Delivery
	for i, x := range ds {
		key := x.Target + "\x00" + keys[i]
		if bucketEvents[tb{x.Target, x.BucketID}] {
			key = x.Target + "\x00" + x.BucketID + "/"
		}
		if held[i] || slow[key] {
			slow[key] = true
			slowRows = append(slowRows, x)
			continue
		}
		c, ok := chains[key]
		if !ok {
			c = len(fb.Chains)
			chains[key] = c
			fb.Chains = append(fb.Chains, nil)
		}
		fb.Chains[c] = append(fb.Chains[c], x)
	}
	b := &pgx.Batch{}
	if len(slowRows) > 0 {
		queueInsertDeliveries(b, slowRows, nil)
	}
	if len(fb.Chains) == 0 {
		b.Queue(`update stowage.event_route_mark set routed_to = $1, leased_to = null, lease_owner = null, lease_until = null
			where routed_to < $1`, to)
		fb = nil
	} else {
		b.Queue(`update stowage.event_route_mark set leased_to = $1, lease_owner = $2,
			lease_until = now() + $3::float8 * interval '1 millisecond'`, to, owner, lease.Milliseconds())
	}
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	t.db.noteDeliveryRows(len(slowRows))
	return fb, nil
}

// queueInsertDeliveries queues the insert of ds as rows: with outcomes (same order), each
// as its attempt left it; without, pending and due at once. A row already there is kept.
func queueInsertDeliveries(b *pgx.Batch, ds []Delivery, outcomes []DeliveryOutcome) {
	n := len(ds)
	ids, targets, keys, configs, states, errs := make([]int64, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n)
	attempts, retryIn := make([]int32, n), make([]int64, n)
	for i, x := range ds {
		ids[i], targets[i], keys[i], configs[i], states[i] = x.ID, x.Target, x.BucketID+"/"+x.Name, x.ConfigID, "pending"
		if outcomes == nil {
			continue
		}
		switch o := outcomes[i]; {
		case o.Released:
		case o.Dead:
			states[i], attempts[i], errs[i] = "dead", 1, o.Error
		default:
			attempts[i], retryIn[i], errs[i] = 1, o.RetryIn.Milliseconds(), o.Error
		}
	}
	b.Queue(`insert into stowage.event_deliveries (event_id, target, okey, config_id, state, attempts, next_at, last_error)
		select u.id, u.target, u.okey, u.config, u.state, u.attempts, now() + u.retry * interval '1 millisecond', u.err
		from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::float8[], $8::text[])
			as u(id, target, okey, config, state, attempts, retry, err)
		on conflict do nothing`, ids, targets, keys, configs, states, attempts, retryIn, errs)
}

// FinishFast records how a fast batch went: the route mark moves past its events and the
// deliveries that did not succeed (failed, dead, or not attempted: outcomes[i] belongs to
// ds[i]) become rows, to be retried as any other. A batch whose lease another router took
// over (it ran out) records nothing: that router delivers the events again.
func (d *DB) FinishFast(ctx context.Context, s Scope, fb *FastBatch, ds []Delivery, outcomes []DeliveryOutcome) error {
	var rows []Delivery
	var os []DeliveryOutcome
	for i, o := range outcomes {
		if !o.Delivered {
			rows, os = append(rows, ds[i]), append(os, o)
		}
	}
	err := d.inDispatchTx(ctx, s, func(tx Tx) error {
		var mine bool
		err := tx.tx.QueryRow(ctx, `update stowage.event_route_mark set routed_to = greatest(routed_to, leased_to),
				leased_to = null, lease_owner = null, lease_until = null
			where lease_owner = $1 and leased_to = $2 returning true`, fb.Owner, fb.LeasedTo).Scan(&mine)
		switch {
		case errors.Is(err, pgx.ErrNoRows): // taken over
			return nil
		case err != nil:
			return err
		case len(rows) == 0:
			return nil
		}
		b := &pgx.Batch{}
		queueInsertDeliveries(b, rows, os)
		return tx.tx.SendBatch(ctx, b).Close()
	})
	if err == nil {
		d.noteDeliveryRows(len(rows))
	}
	return Classify(err)
}

// bodyDest scans an event's jsonb body as bytes: into a json.RawMessage, pgx would hand them
// to json.Unmarshal, which reads the whole body to validate what Postgres already holds as
// jsonb (a fifth of the gateway's CPU for routing a batch of events).
func bodyDest(b *json.RawMessage) *[]byte { return (*[]byte)(b) }

func scanEvent(r pgx.CollectableRow) (Event, error) {
	var e Event
	err := r.Scan(&e.ID, &e.EventID, &e.Type, &e.S3Name, &e.BucketID, &e.Name, &e.Version, &e.Size, &e.ETag, bodyDest(&e.Body), &e.CreatedAt)
	return e, err
}

// ClaimDeliveries claims up to limit due deliveries of target, oldest event first, and
// leases them for lease: another dispatcher skips them (SKIP LOCKED while claiming, the
// lease after) until the lease ends, so a dispatcher that dies mid-delivery only delays
// them. A delivery whose key has an earlier undelivered one for the same target waits for
// it: deliveries of one key go out in event (commit) order.
func (d *DB) ClaimDeliveries(ctx context.Context, s Scope, target string, limit int, lease time.Duration) ([]Delivery, error) {
	var out []Delivery
	err := d.inDispatchTx(ctx, s, func(tx Tx) error {
		var err error
		out, err = tx.claimDeliveries(ctx, target, limit, lease)
		return err
	})
	return out, Classify(err)
}

// claimSQL claims deliveries ($1 target, $2 limit, $3 lease in ms): see ClaimDeliveries.
// Order: a delivery waits for earlier undelivered ones of its key (okey "bucket/name"), of
// its bucket's own events (okey "bucket/": Bucket:Created goes out before the bucket's
// first objects), and a bucket event for those of every key in the bucket (Bucket:Deleted
// after the deletes that emptied it): each is a probe of the (target, okey, event_id)
// index; okey is collated "C", so "bucket/" up to "bucket0" is the bucket's range.
//
// The probes end in "offset 0", which keeps Postgres from turning them into anti-joins:
// planned on statistics of a mostly empty table (deliveries are deleted once delivered),
// the generic plan joined every candidate against every pending delivery of the target
// once a receiver was down and a backlog built up, 8.5 s per claim with 3,000 pending and
// a core of Postgres busy while uploads went on (0.16 s as probes with 12,500 pending).
// Probes still need the table analyzed to pick their index: deliveryStats.
const claimSQL = `with c as (
			select x.event_id from stowage.event_deliveries x
			where x.target = $1 and x.state = 'pending' and x.next_at <= now()
			  and not exists (select 1 from stowage.event_deliveries p
				where p.target = x.target and p.okey = x.okey and p.state = 'pending' and p.event_id < x.event_id offset 0)
			  and not exists (select 1 from stowage.event_deliveries p
				where p.target = x.target and p.okey = split_part(x.okey, '/', 1) || '/' and p.state = 'pending' and p.event_id < x.event_id offset 0)
			  and (right(x.okey, 1) <> '/' or not exists (select 1 from stowage.event_deliveries p
				where p.target = x.target and p.okey >= x.okey and p.okey < left(x.okey, -1) || '0'
				  and p.state = 'pending' and p.event_id < x.event_id offset 0))
			order by x.event_id limit $2 for update skip locked),
		u as (
			update stowage.event_deliveries d set attempts = d.attempts + 1, next_at = now() + $3::float8 * interval '1 millisecond'
			from c where d.event_id = c.event_id and d.target = $1
			returning d.event_id, d.config_id, d.attempts)
		select e.id, e.event_id::text, e.type, e.s3_name, e.bucket_id, e.name, e.version, e.size, e.etag, e.body, e.created_at,
			u.config_id, u.attempts
		from u join stowage.events e on e.id = u.event_id order by e.id`

func (t Tx) claimDeliveries(ctx context.Context, target string, limit int, lease time.Duration) ([]Delivery, error) {
	rows, err := t.tx.Query(ctx, claimSQL, target, limit, lease.Milliseconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var x Delivery
		err := r.Scan(&x.ID, &x.EventID, &x.Type, &x.S3Name, &x.BucketID, &x.Name, &x.Version, &x.Size, &x.ETag,
			bodyDest(&x.Body), &x.CreatedAt, &x.ConfigID, &x.Attempts)
		x.Target = target
		return x, err
	})
}

// DeliveryOutcome is how one delivery attempt ended.
type DeliveryOutcome struct {
	Delivered bool
	Released  bool          // not attempted after all: due again at once, the claim's attempt not counted
	Dead      bool          // give up: dead-letter
	RetryIn   time.Duration // when neither: the next attempt is due after this
	Error     string
}

// Finished is the outcome of an attempt at delivering event ID to Target.
type Finished struct {
	ID      int64
	Target  string
	Outcome DeliveryOutcome
}

// FinishDeliveries records the outcomes of attempts in one transaction: the acknowledged
// ones with one statement (the common case), failures one statement each.
func (d *DB) FinishDeliveries(ctx context.Context, s Scope, fs []Finished) error {
	var ids []int64
	var targets []string
	b := &pgx.Batch{}
	for _, f := range fs {
		o := f.Outcome
		switch {
		case o.Delivered:
			ids, targets = append(ids, f.ID), append(targets, f.Target)
		case o.Released:
			b.Queue(`update stowage.event_deliveries set attempts = greatest(attempts - 1, 0), next_at = now()
				where event_id = $1 and target = $2 and state = 'pending'`, f.ID, f.Target)
		case o.Dead:
			b.Queue(`update stowage.event_deliveries set state = 'dead', last_error = $3 where event_id = $1 and target = $2`,
				f.ID, f.Target, o.Error)
		default:
			b.Queue(`update stowage.event_deliveries set next_at = now() + $3::float8 * interval '1 millisecond', last_error = $4
				where event_id = $1 and target = $2`, f.ID, f.Target, o.RetryIn.Milliseconds(), o.Error)
		}
	}
	if len(ids) > 0 {
		// Acknowledged deliveries are deleted (the event stays for its retention): one row
		// write, no new row version, and the pending-only indexes stay small.
		b.Queue(`delete from stowage.event_deliveries d using unnest($1::bigint[], $2::text[]) as f(id, target)
			where d.event_id = f.id and d.target = f.target`, ids, targets)
	}
	return d.inDispatchTx(ctx, s, func(tx Tx) error { return tx.tx.SendBatch(ctx, b).Close() })
}

// EventCounts are the outbox's numbers by target.
type EventCounts struct {
	Unrouted int64
	Pending  map[string]int64
	Dead     map[string]int64
}

// countUnroutedSQL counts the events past the router's mark. Bounded on both sides: the
// planner cannot know the mark, and took "id above it" for a third of the outbox, which on
// an outbox at retention size (millions of events) made every count a parallel sequential
// scan of all of it (254 ms and two worker processes at 2M events, every ten polls) to count
// a backlog of a few hundred. A range with unknown ends is estimated at 0.5 %, an index scan
// (2 ms). The gauge needs no parallel workers either (CountEvents turns them off).
const countUnroutedSQL = `select count(*) from stowage.events
	where id > (select routed_to from stowage.event_route_mark) and id <= (select max(id) from stowage.events) and not routed`

// CountEvents counts unrouted events and pending and dead deliveries per target.
func (d *DB) CountEvents(ctx context.Context, s Scope) (EventCounts, error) {
	c := EventCounts{Pending: map[string]int64{}, Dead: map[string]int64{}}
	err := d.InTx(ctx, s, func(tx Tx) error {
		if _, err := tx.tx.Exec(ctx, `set local max_parallel_workers_per_gather = 0`); err != nil {
			return err
		}
		if err := tx.tx.QueryRow(ctx, countUnroutedSQL).Scan(&c.Unrouted); err != nil {
			return err
		}
		rows, err := tx.tx.Query(ctx, `select target, state, count(*) from stowage.event_deliveries
			where state in ('pending', 'dead') group by 1, 2`)
		if err != nil {
			return err
		}
		var target, state string
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&target, &state, &n}, func() error {
			if state == "dead" {
				c.Dead[target] = n
			} else {
				c.Pending[target] = n
			}
			return nil
		})
		return err
	})
	return c, Classify(err)
}

// sweepBatch bounds one statement of SweepEvents: a sweep that meets days of events at
// once (dispatch was off meanwhile, or the retention was shortened) deletes them in
// transactions of this many rows, each short, rather than in one that holds its row locks
// and the vacuum horizon for as long as millions of deletes take. sweepBatches bounds one
// call: the dispatcher sweeps between two looks at the outbox, so a sweep of millions would
// hold its deliveries up for minutes; 20 batches (100,000 events, about half a second) per
// call, every ten polls, still delete far more than any write rate adds. Variables for tests.
var sweepBatch, sweepBatches = 5000, 20

// sweepSQL deletes up to $2 of the events older than $1 ms that SweepEvents may delete, oldest
// first. The ids are gathered into an array: "id in (select … limit n)" let the planner join
// them to the whole outbox, which with 20,000 ids it did by a sequential scan of 2M events
// (2.2 s instead of 0.4); "id = any(array)" is always probed through the primary key.
const sweepSQL = `delete from stowage.events where id = any(array(
	select e.id from stowage.events e
	where (e.id <= (select routed_to from stowage.event_route_mark) or e.routed) and e.created_at < now() - $1::float8 * interval '1 millisecond'
	and not exists (select 1 from stowage.event_deliveries d where d.event_id = e.id and d.state <> 'delivered')
	order by e.created_at limit $2))`

// SweepEvents deletes events older than retention all of whose deliveries were delivered
// (or that had none), oldest first, sweepBatch at a time, until none is left, sweepBatches
// were deleted (the rest is left for the next call) or ctx ends. Dead deliveries keep their
// event until they are re-driven. It returns how many it deleted.
func (d *DB) SweepEvents(ctx context.Context, s Scope, retention time.Duration) (int64, error) {
	var total int64
	for range sweepBatches {
		var n int64
		err := d.InTx(ctx, s, func(tx Tx) error {
			tag, err := tx.tx.Exec(ctx, sweepSQL, retention.Milliseconds(), sweepBatch)
			n = tag.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < int64(sweepBatch) {
			return total, Classify(err)
		}
	}
	return total, nil
}

// DeadDelivery is a delivery that gave up.
type DeadDelivery struct {
	Delivery
	LastError string
}

// DeadDeliveries lists up to limit dead deliveries, oldest event first.
func (d *DB) DeadDeliveries(ctx context.Context, s Scope, limit int) ([]DeadDelivery, error) {
	var out []DeadDelivery
	err := d.InTx(ctx, s, func(tx Tx) error {
		rows, err := tx.tx.Query(ctx, `select e.id, e.event_id::text, e.type, e.bucket_id, e.name, e.created_at,
				d.target, d.attempts, d.last_error
			from stowage.event_deliveries d join stowage.events e on e.id = d.event_id
			where d.state = 'dead' order by e.id limit $1`, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadDelivery, error) {
			var x DeadDelivery
			err := r.Scan(&x.ID, &x.EventID, &x.Type, &x.BucketID, &x.Name, &x.CreatedAt, &x.Target, &x.Attempts, &x.LastError)
			return x, err
		})
		return err
	})
	return out, Classify(err)
}

// RedriveDeliveries makes dead deliveries pending again with a fresh attempt count: those
// of the given event ids, or all of them when ids is empty. It returns how many.
func (d *DB) RedriveDeliveries(ctx context.Context, s Scope, ids []int64) (int64, error) {
	var n int64
	err := d.InTx(ctx, s, func(tx Tx) error {
		tag, err := tx.tx.Exec(ctx, `update stowage.event_deliveries set state = 'pending', attempts = 0, next_at = now(),
			last_error = '' where state = 'dead' and (coalesce(cardinality($1::bigint[]), 0) = 0 or event_id = any($1))`, ids)
		n = tag.RowsAffected()
		return err
	})
	return n, Classify(err)
}

// EventsDue reports whether the outbox has work a dispatcher would do now: an unrouted
// event, or a pending delivery whose time has come (a retry due, a lease run out). A
// database without the outbox (never migrated) has none. Two index probes: cheap enough to
// ask of every tenant's database in turn (multi-tenant mode's sweep).
func (d *DB) EventsDue(ctx context.Context, s Scope) (bool, error) {
	var exists bool
	if err := d.pool.QueryRow(ctx, `select to_regclass('stowage.event_deliveries') is not null`).Scan(&exists); err != nil || !exists {
		return false, Classify(err)
	}
	var due bool
	err := d.InTx(ctx, s, func(tx Tx) error {
		return tx.tx.QueryRow(ctx, `select exists (select 1 from stowage.events
				where id > (select routed_to from stowage.event_route_mark) and not routed)
			or exists (select 1 from stowage.event_deliveries where state = 'pending' and next_at <= now())`).Scan(&due)
	})
	return due, Classify(err)
}

// Notify sends a Postgres NOTIFY on channel.
func (d *DB) Notify(ctx context.Context, channel, payload string) error {
	_, err := d.pool.Exec(ctx, `select pg_notify($1, $2)`, channel, payload)
	return Classify(err)
}

// BucketNotificationConfigs returns the notification configuration documents of buckets
// (those that have one).
func (t Tx) BucketNotificationConfigs(ctx context.Context, buckets []string) (map[string]json.RawMessage, error) {
	rows, err := t.tx.Query(ctx, `select bucket_id, config from stowage.bucket_notifications where bucket_id = any($1)`, buckets)
	if err != nil {
		return nil, Classify(err)
	}
	out := map[string]json.RawMessage{}
	var id string
	var cfg []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &cfg}, func() error {
		out[id] = append(json.RawMessage(nil), cfg...)
		return nil
	})
	return out, Classify(err)
}

// SetBucketNotificationConfig replaces a bucket's notification configuration; nil removes it.
func (t Tx) SetBucketNotificationConfig(ctx context.Context, bucket string, cfg json.RawMessage) error {
	var err error
	if cfg == nil {
		_, err = t.tx.Exec(ctx, `delete from stowage.bucket_notifications where bucket_id = $1`, bucket)
	} else {
		_, err = t.tx.Exec(ctx, `insert into stowage.bucket_notifications (bucket_id, config) values ($1, $2::jsonb)
			on conflict (bucket_id) do update set config = excluded.config, updated_at = now()`, bucket, string(cfg))
	}
	return Classify(err)
}

// PublicBuckets reports which of buckets are public (storage.buckets.public); buckets that
// no longer exist are not.
func (t Tx) PublicBuckets(ctx context.Context, buckets []string) (map[string]bool, error) {
	rows, err := t.tx.Query(ctx, `select id from storage.buckets where id = any($1) and public`, buckets)
	if err != nil {
		return nil, Classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, Classify(err)
}
