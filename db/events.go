package db

import (
	"context"
	"encoding/json"
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

// AddEvents inserts events into the outbox in the caller's transaction (one statement), so
// they commit or roll back with the change they describe. The transaction must run as the
// service role.
func (t Tx) AddEvents(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	_, err := t.tx.Exec(ctx, addEventsSQL, addEventsArgs(evs)...)
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
		t.atCommit.Queue(addEventsSQL, addEventsArgs(evs)...)
		t.recordedEvents()
	}
}

const addEventsSQL = `insert into stowage.events (event_id, type, s3_name, bucket_id, name, version, etag, body, size)
		select u.id::uuid, u.t, u.s, u.b, u.n, u.v, u.e, u.body::jsonb, u.sz
		from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])
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
// of the batch (it may read bucket settings through tx); they are inserted and the events
// marked routed in one transaction. It returns how many events it routed (0 when another
// dispatcher is routing right now).
func (d *DB) RouteEvents(ctx context.Context, s Scope, limit int, route func(ctx context.Context, tx Tx, evs []Event) ([]Delivery, error)) (int, error) {
	n, _, err := d.RouteAndClaim(ctx, s, limit, route, nil, 0)
	return n, err
}

// Claim asks for up to Limit due deliveries of Target.
type Claim struct {
	Target string
	Limit  int
}

// RouteAndClaim is RouteEvents and then ClaimDeliveries for each of claims, in one
// transaction: a dispatcher's look at the outbox costs one transaction, not one per step.
// Deliveries routed by this call are inserted already claimed when they are due at once
// (no earlier delivery of their key or bucket waits) and fit the claims' limits: routing
// and claiming such a delivery is one row write, not two.
func (d *DB) RouteAndClaim(ctx context.Context, s Scope, limit int, route func(ctx context.Context, tx Tx, evs []Event) ([]Delivery, error),
	claims []Claim, lease time.Duration) (int, []Delivery, error) {
	var routed int
	var claimed []Delivery
	err := d.InTx(ctx, s, func(tx Tx) error {
		routed, claimed = 0, nil
		left := make(map[string]int, len(claims))
		for _, c := range claims {
			left[c.Target] = c.Limit
		}
		var err error
		if routed, claimed, err = tx.routeEvents(ctx, limit, route, left, lease); err != nil {
			return err
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
		return 0, nil, Classify(err)
	}
	return routed, claimed, nil
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

// routeEvents routes up to limit unrouted events; the deliveries it may claim at once
// (left: how many per target, lowered by those it claims) it inserts claimed and returns.
func (t Tx) routeEvents(ctx context.Context, limit int, route func(ctx context.Context, tx Tx, evs []Event) ([]Delivery, error),
	left map[string]int, lease time.Duration) (int, []Delivery, error) {
	var locked bool
	if err := t.tx.QueryRow(ctx, `select pg_try_advisory_xact_lock($1)`, int64(routeLock)).Scan(&locked); err != nil || !locked {
		return 0, nil, err
	}
	rows, err := t.tx.Query(ctx, `select id, event_id::text, type, s3_name, bucket_id, name, version, size, etag, body, created_at
		from stowage.events where not routed order by id limit $1`, limit)
	if err != nil {
		return 0, nil, err
	}
	evs, err := pgx.CollectRows(rows, scanEvent)
	if err != nil || len(evs) == 0 {
		return 0, nil, err
	}
	ds, err := route(ctx, t, evs)
	if err != nil {
		return 0, nil, err
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
	ids := make([]int64, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	b.Queue(`update stowage.events set routed = true where id = any($1)`, ids)
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, nil, err
	}
	return len(evs), claimed, nil
}

func scanEvent(r pgx.CollectableRow) (Event, error) {
	var e Event
	err := r.Scan(&e.ID, &e.EventID, &e.Type, &e.S3Name, &e.BucketID, &e.Name, &e.Version, &e.Size, &e.ETag, &e.Body, &e.CreatedAt)
	return e, err
}

// ClaimDeliveries claims up to limit due deliveries of target, oldest event first, and
// leases them for lease: another dispatcher skips them (SKIP LOCKED while claiming, the
// lease after) until the lease ends, so a dispatcher that dies mid-delivery only delays
// them. A delivery whose key has an earlier undelivered one for the same target waits for
// it: deliveries of one key go out in event (commit) order.
func (d *DB) ClaimDeliveries(ctx context.Context, s Scope, target string, limit int, lease time.Duration) ([]Delivery, error) {
	var out []Delivery
	err := d.InTx(ctx, s, func(tx Tx) error {
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
const claimSQL = `with c as (
			select x.event_id from stowage.event_deliveries x
			where x.target = $1 and x.state = 'pending' and x.next_at <= now()
			  and not exists (select 1 from stowage.event_deliveries p
				where p.target = x.target and p.okey = x.okey and p.state = 'pending' and p.event_id < x.event_id)
			  and not exists (select 1 from stowage.event_deliveries p
				where p.target = x.target and p.okey = split_part(x.okey, '/', 1) || '/' and p.state = 'pending' and p.event_id < x.event_id)
			  and (right(x.okey, 1) <> '/' or not exists (select 1 from stowage.event_deliveries p
				where p.target = x.target and p.okey >= x.okey and p.okey < left(x.okey, -1) || '0'
				  and p.state = 'pending' and p.event_id < x.event_id))
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
			&x.Body, &x.CreatedAt, &x.ConfigID, &x.Attempts)
		x.Target = target
		return x, err
	})
}

// DeliveryOutcome is how one delivery attempt ended.
type DeliveryOutcome struct {
	Delivered bool
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
	return d.InTx(ctx, s, func(tx Tx) error { return tx.tx.SendBatch(ctx, b).Close() })
}

// EventCounts are the outbox's numbers by target.
type EventCounts struct {
	Unrouted int64
	Pending  map[string]int64
	Dead     map[string]int64
}

// CountEvents counts unrouted events and pending and dead deliveries per target.
func (d *DB) CountEvents(ctx context.Context, s Scope) (EventCounts, error) {
	c := EventCounts{Pending: map[string]int64{}, Dead: map[string]int64{}}
	err := d.InTx(ctx, s, func(tx Tx) error {
		if err := tx.tx.QueryRow(ctx, `select count(*) from stowage.events where not routed`).Scan(&c.Unrouted); err != nil {
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

// SweepEvents deletes events older than retention all of whose deliveries were delivered
// (or that had none). Dead deliveries keep their event until they are re-driven.
func (d *DB) SweepEvents(ctx context.Context, s Scope, retention time.Duration) (int64, error) {
	var n int64
	err := d.InTx(ctx, s, func(tx Tx) error {
		tag, err := tx.tx.Exec(ctx, `delete from stowage.events e where e.routed and e.created_at < now() - $1::float8 * interval '1 millisecond'
			and not exists (select 1 from stowage.event_deliveries d where d.event_id = e.id and d.state <> 'delivered')`,
			retention.Milliseconds())
		n = tag.RowsAffected()
		return err
	})
	return n, Classify(err)
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
		return tx.tx.QueryRow(ctx, `select exists (select 1 from stowage.events where not routed)
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
