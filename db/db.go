package db

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configure the pool.
type Options struct {
	MaxConns int32
	// ConnectTimeout bounds connecting and also waiting for a pooled connection (the
	// reference's acquireConnectionTimeout); 0: the statement deadline bounds the wait.
	ConnectTimeout time.Duration
	// StatementTimeout is every scoped transaction's statement_timeout; the client gives
	// up on any statement a margin after it (see statementDeadline), 0 turns the server's
	// bound off and leaves the client's at unboundedStatementDeadline.
	StatementTimeout time.Duration
	ApplicationName  string
	// MinConns is the floor the pool shrinks to when idle (capped at MaxConns).
	MinConns int32
	// MaxConnIdleTime closes a connection idle for longer (down to MinConns), so a burst's
	// connections (and their Postgres backends) do not stay for good; 0 means never.
	MaxConnIdleTime time.Duration
	// Dial, when set, opens the connections (tests wrap the socket to count round trips).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DB is the pgx pool plus the per-transaction settings every statement runs with.
type DB struct {
	pool     *pgxpool.Pool
	stmtTime string
	// eventHooks are told of every commit that recorded events (OnEventsCommitted).
	eventHooks atomic.Pointer[[]*eventHook]
	// hw is what the event router has learnt of which event ids are final (eventsHighWater).
	hw highWater
	// reads combines concurrent reads of roles that bypass RLS (combinedRead).
	reads readCombiner
	// deliveries keeps stowage.event_deliveries analyzed as a backlog grows.
	deliveries deliveryStats
}

// Open connects to url; search_path is storage,public,extensions as in the reference.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.MinConns = min(max(opts.MinConns, 0), cfg.MaxConns)
	if opts.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = opts.MaxConnIdleTime
		// The pool closes idle connections on its health check: check often enough that
		// one is gone at most about twice its idle time after its last use.
		cfg.HealthCheckPeriod = min(cfg.HealthCheckPeriod, max(opts.MaxConnIdleTime, 100*time.Millisecond))
	} else {
		cfg.MaxConnIdleTime = time.Duration(math.MaxInt64) // pgxpool closes anything idle longer than 0
	}
	if opts.ConnectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = "storage,public,extensions"
	tracer := deadlineTracer{statement: statementDeadline(opts.StatementTimeout), acquire: opts.ConnectTimeout}
	if tracer.acquire <= 0 {
		tracer.acquire = tracer.statement
	}
	cfg.ConnConfig.Tracer = tracer
	if opts.Dial != nil {
		cfg.ConnConfig.DialFunc = opts.Dial
	}
	if opts.ApplicationName != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = opts.ApplicationName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	d := &DB{pool: pool}
	d.reads.overflowAfter = combineOverflowAfter
	d.reads.maxLanes = max(combineLanes, int(cfg.MaxConns)/2)
	if opts.StatementTimeout > 0 {
		d.stmtTime = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10) + "ms"
	}
	return d, nil
}

// Pool exposes the pool for migrations and health checks.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Close closes the pool.
func (d *DB) Close() {
	d.reads.mu.Lock()
	if d.reads.overflow != nil {
		d.reads.overflow.Stop()
	}
	d.reads.mu.Unlock()
	d.pool.Close()
}

// Ping checks the database answers within ctx.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	return Classify(d.pool.QueryRow(ctx, "select 1").Scan(&one))
}

// Scope is the identity and request context a transaction runs with, set the way the
// reference (and PostgREST) do so that RLS policies written for Supabase keep working.
type Scope struct {
	Role      string
	Claims    string // JSON payload of the JWT
	Token     string // raw JWT
	Sub       string
	Operation string // storage.operation()
	Method    string
	Path      string
	// Headers returns the JSON object of request headers; nil: none. It is called only
	// when the whole scope is applied (not for a read by a role that bypasses RLS), so a
	// caller may build the object lazily (gateway.RequestHeaders).
	Headers func() string
	// BypassesRLS says the role is a superuser or BYPASSRLS (as the engine's role cache
	// knows it). A read pipeline (readPipeline) then sets only the role and
	// statement_timeout: no policy applies to such a role, and a select of the storage
	// tables runs nothing else that could read a setting. Writes (their triggers) always
	// get every setting.
	BypassesRLS bool
}

// scopeSettings are the transaction-local settings of a Scope, in the order of
// DB.scopeValues: the reference's (and PostgREST's) names, so RLS policies see the caller.
var scopeSettings = []string{"role", "request.jwt.claim.role", "request.jwt", "request.jwt.claim.sub",
	"request.jwt.claims", "request.headers", "request.method", "request.path", "storage.operation",
	"statement_timeout"}

// values are the setting values of s, one per scopeSettings entry.
func (d *DB) scopeValues(s Scope) []string {
	headers := "{}"
	if s.Headers != nil {
		if h := s.Headers(); h != "" {
			headers = h
		}
	}
	claims := s.Claims
	if claims == "" {
		claims = fmt.Sprintf(`{"role":%q}`, s.Role)
	}
	return []string{s.Role, s.Role, s.Token, s.Sub, claims, headers, s.Method, s.Path, s.Operation, d.statementTimeout()}
}

// statementTimeout is the statement_timeout setting's value.
func (d *DB) statementTimeout() string {
	if d.stmtTime == "" {
		return "0"
	}
	return d.stmtTime
}

// scopeSQL is the select that applies the settings; arg(i) is the SQL text of value i.
func scopeSQL(arg func(i int) string) string {
	var b strings.Builder
	b.WriteString("select set_config('storage.allow_delete_query', 'true', true)")
	for i, name := range scopeSettings {
		fmt.Fprintf(&b, ", set_config('%s', %s, true)", name, arg(i))
	}
	return b.String()
}

// setScope applies a scope's settings, given as parameters.
var setScope = scopeSQL(func(i int) string { return "$" + strconv.Itoa(i+1) })

// setBypassScope applies the settings a read of a role that bypasses RLS depends on: the
// role and statement_timeout (Scope.BypassesRLS).
const setBypassScope = `select set_config('role', $1, true), set_config('statement_timeout', $2, true)`

func (d *DB) applyScope(ctx context.Context, tx pgx.Tx, s Scope) error {
	if _, err := tx.Exec(ctx, setScope, anyArgs(d.scopeValues(s))...); err != nil {
		return fmt.Errorf("scope transaction as %q: %w", s.Role, Classify(err))
	}
	return nil
}

// InTx runs fn in a transaction as s.Role with s's claims. set_config(..., true) is
// transaction-local, so the pooled connection forgets the identity at commit or rollback.
// The begin and the settings go as one pipeline (one round trip; four of a PutObject's
// round trips were these), with the settings as parameters: the caller's token and headers
// never appear in SQL text (server logs, pg_stat_activity).
func (d *DB) InTx(ctx context.Context, s Scope, fn func(Tx) error) error {
	return d.inTx(ctx, s, pgx.TxOptions{}, fn)
}

// snapshotAttempts bounds how often InSnapshotTx runs fn after serialization failures.
const snapshotAttempts = 10

// InSnapshotTx is InTx at REPEATABLE READ: every statement of fn sees the database as of
// the transaction's first statement, so a check that follows a write judges the rows the
// write saw and never one committed after it (at READ COMMITTED each statement takes a new
// snapshot). A row fn writes that another transaction changed after that snapshot is a
// serialization failure; the whole transaction then runs again, fn included, so fn must
// set its results afresh on each run.
func (d *DB) InSnapshotTx(ctx context.Context, s Scope, fn func(Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := d.inTx(ctx, s, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, fn)
		if !errors.Is(err, ErrRetry) || attempt == snapshotAttempts || ctx.Err() != nil {
			return err
		}
	}
}

// InSnapshotTxKeys is InSnapshotTx for a transaction that writes the current rows of keys
// in bucket. A commit to one of them between the snapshot and the write fails the
// transaction (40001), and against a key written in a tight loop attempt after attempt can
// lose that way. So after the first failure each attempt first takes the keys' per-object
// advisory locks (the ones every commit takes, LockKey) on the connection's session, before
// BEGIN: no commit to those keys is then under way or can start, and the snapshot is taken
// after the last one. The locks are released when the transaction has ended.
func (d *DB) InSnapshotTxKeys(ctx context.Context, s Scope, bucket string, keys []string, fn func(Tx) error) error {
	var locks []int64
	for attempt := 1; ; attempt++ {
		err := d.inTxLocked(ctx, s, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, locks, nil, fn)
		if !errors.Is(err, ErrRetry) || attempt == snapshotAttempts || ctx.Err() != nil {
			return err
		}
		if locks == nil && len(keys) <= maxKeyLocks {
			locks = keyLocks(bucket, keys)
		}
	}
}

// maxKeyLocks bounds the advisory locks one retry takes: they live in Postgres's shared
// lock table (max_locks_per_transaction × max_connections slots for the whole server), so a
// batch delete of up to 1,000 keys retries as before, without them.
const maxKeyLocks = 64

// keyLocks are the distinct LockHash values of bucket's keys in ascending order, the order
// every holder of several takes them in.
func keyLocks(bucket string, keys []string) []int64 {
	locks := make([]int64, 0, len(keys))
	for _, k := range keys {
		locks = append(locks, LockHash(bucket+"/"+k))
	}
	slices.Sort(locks)
	return slices.Compact(locks)
}

// lockSession takes locks as session-level advisory locks on conn, each wait bounded as
// LockKey bounds it. The returned release drops them (and whatever part of them was taken
// when it failed); a connection that cannot confirm the release is closed, so no lock
// outlives the request on a pooled connection.
func lockSession(ctx context.Context, conn *pgxpool.Conn, locks []int64) (release func(), err error) {
	release = func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		b := &pgx.Batch{}
		b.Queue(`select pg_advisory_unlock_all()`)
		b.Queue(`reset lock_timeout`)
		if err := conn.SendBatch(rctx, b).Close(); err != nil {
			_ = conn.Conn().Close(rctx)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`select set_config('lock_timeout', '5000ms', false)`)
	// unnest yields the array in order: the locks are taken in keyLocks' order.
	b.Queue(`select count(pg_advisory_lock(k)) from unnest($1::bigint[]) as k`, locks)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		release()
		return nil, Classify(err)
	}
	return release, nil
}

func (d *DB) inTx(ctx context.Context, s Scope, opts pgx.TxOptions, fn func(Tx) error) error {
	return d.inTxWith(ctx, s, opts, nil, fn)
}

// inTxWith is inTx whose first pipeline (begin, settings) also carries first's statements.
// Statements fn queued with Tx.QueueAtCommit go with COMMIT, in the same pipeline.
func (d *DB) inTxWith(ctx context.Context, s Scope, opts pgx.TxOptions, first func(*pgx.Batch), fn func(Tx) error) error {
	return d.inTxLocked(ctx, s, opts, nil, first, fn)
}

// inTxLocked is inTxWith that first holds locks (lockSession) for the transaction's life.
func (d *DB) inTxLocked(ctx context.Context, s Scope, opts pgx.TxOptions, locks []int64, first func(*pgx.Batch), fn func(Tx) error) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return Classify(err)
	}
	defer conn.Release()
	if len(locks) > 0 {
		release, err := lockSession(ctx, conn, locks)
		if err != nil {
			return err
		}
		// Deferred after Release, so it runs first: the transaction below has ended
		// (its own deferred rollback runs before this) when the locks go.
		defer release()
	}
	b := &pgx.Batch{}
	b.BeginTx(opts)
	b.Queue(setScope, anyArgs(d.scopeValues(s))...)
	if first != nil {
		first(b)
	}
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	// Ends the transaction after a failed setting (a role the database lacks) as after a
	// failed fn, so the connection goes back to the pool clean; nothing to do (and no round
	// trip) once it has committed, whichever way.
	defer func() {
		if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
			_ = tx.Rollback(ctx)
		}
	}()
	if err := br.Close(); err != nil {
		return fmt.Errorf("scope transaction as %q: %w", s.Role, Classify(err))
	}
	t := Tx{tx: tx, db: d, atCommit: &pgx.Batch{}, events: new(bool)}
	if err := fn(t); err != nil {
		return Classify(err)
	}
	if t.atCommit.Len() == 0 {
		err = tx.Commit(ctx)
	} else {
		t.atCommit.Queue(`commit`).Exec(commitTag)
		err = tx.SendBatch(ctx, t.atCommit).Close()
	}
	if err == nil && *t.events {
		d.eventsCommitted()
	}
	return Classify(err)
}

// errProbeDone rolls back a probe transaction on purpose.
var errProbeDone = errors.New("probe done")

// Probe runs fn as s and always rolls back: the reference's "pre-flight" that lets RLS and
// unique indexes judge a write before any byte is stored.
func (d *DB) Probe(ctx context.Context, s Scope, fn func(Tx) error) error {
	err := d.InTx(ctx, s, func(tx Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errProbeDone
	})
	if errors.Is(err, errProbeDone) {
		return nil
	}
	return err
}

// Tx is a scoped transaction; its methods are the storage queries.
type Tx struct {
	tx pgx.Tx
	db *DB
	// atCommit holds statements queued to go with COMMIT (QueueAtCommit).
	atCommit *pgx.Batch
	// events is set once the transaction recorded events (AddEvents, QueueAddEvents).
	events *bool
}

// AsRole runs fn inside a savepoint as another identity, then restores the outer one, as the
// reference does for a superuser lookup inside a user-scoped transaction.
func (t Tx) AsRole(ctx context.Context, outer, inner Scope, fn func(Tx) error) error {
	sp, err := t.tx.Begin(ctx)
	if err != nil {
		return Classify(err)
	}
	if err := t.db.applyScope(ctx, sp, inner); err != nil {
		_ = sp.Rollback(ctx)
		return err
	}
	if err := fn(Tx{tx: sp, db: t.db, atCommit: t.atCommit, events: t.events}); err != nil {
		_ = sp.Rollback(ctx)
		return Classify(err)
	}
	if err := t.db.applyScope(ctx, sp, outer); err != nil {
		_ = sp.Rollback(ctx)
		return err
	}
	return Classify(sp.Commit(ctx))
}

// LockKey takes the per-object advisory lock the reference takes before committing an
// upload, so reference and Stowage instances on one database serialise on the same key.
func (t Tx) LockKey(ctx context.Context, bucket, key string) error {
	// One round trip: the three statements go as a pipeline; a lock that times out fails
	// its statement and the rest are skipped with it.
	b := &pgx.Batch{}
	queueLock(b, bucket, key)
	return Classify(t.tx.SendBatch(ctx, b).Close())
}

func queueLock(b *pgx.Batch, bucket, key string) {
	b.Queue(`select set_config('lock_timeout', '5000ms', true)`)
	b.Queue(`select pg_advisory_xact_lock($1)`, LockHash(bucket+"/"+key))
	b.Queue(`select set_config('lock_timeout', '0', true)`)
}

// LockHash is the reference's 32-bit djb2-xor hash over UTF-16 code units, as an unsigned
// value in an int64 (schema.md §6).
func LockHash(s string) int64 {
	var h int32 = 5381
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			hi, lo := 0xD800+(r>>10), 0xDC00+(r&0x3FF)
			h = (h * 33) ^ int32(hi)
			h = (h * 33) ^ int32(lo)
			continue
		}
		h = (h * 33) ^ int32(r)
	}
	return int64(uint32(h))
}
