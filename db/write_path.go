package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The write path's statements go in as few round trips as their data dependencies allow
// (docs/engine.md, "Postgres round trips per operation"):
//
//   - Reserve: a write's intent and preflight, begin to commit, in one pipeline.
//   - InObjectTx: the commit transaction's begin, settings, per-key advisory lock and
//     row lock in one pipeline; the engine decides on the row it read; what it queues with
//     QueueCommitObject/QueueAddIntent/QueueAtCommit goes with COMMIT in a second one.
//   - ForgetIntents: one autocommit statement.

// sendBatch sends b in one round trip on a connection of its own. A failed statement
// skips the rest of b (COMMIT included), so a transaction b left open is rolled back before
// the connection goes back to the pool. The error is classified.
func (d *DB) sendBatch(ctx context.Context, b *pgx.Batch) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return Classify(err)
	}
	defer conn.Release()
	err = conn.SendBatch(ctx, b).Close()
	if conn.Conn().PgConn().TxStatus() != 'I' && !conn.Conn().IsClosed() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = conn.Exec(rctx, `rollback`)
		cancel()
	}
	return Classify(err)
}

// pipeline runs queue's statements between begin and commit, as scope s, in one round trip
// on a connection of its own. A failed statement skips the rest (the server discards the
// pipeline up to its end), so the transaction is then rolled back before the connection
// goes back to the pool.
func (d *DB) pipeline(ctx context.Context, s Scope, queue func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	b.Queue(`begin`)
	b.Queue(setScope, anyArgs(d.scopeValues(s))...)
	queue(b)
	b.Queue(`commit`).Exec(commitTag)
	if err := d.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("pipeline as %q: %w", s.Role, err)
	}
	return nil
}

// readPipeline runs queue's read-only statements as scope s in one round trip, without
// begin and commit: the extended protocol runs everything up to the pipeline's Sync as one
// implicit transaction, so the settings (set_config(..., true)) apply to the statements
// after them and end with it, as in an explicit transaction, for two statements fewer per
// read. A failed statement fails the pipeline as pipeline's does; nothing is left open.
func (d *DB) readPipeline(ctx context.Context, s Scope, queue func(b *pgx.Batch)) error {
	return d.readPipelineScoped(ctx, s, false, queue)
}

// readPipelineScoped is readPipeline for a queue that applies another scope among its
// statements when setsScope is true (db/read_combine.go).
func (d *DB) readPipelineScoped(ctx context.Context, s Scope, setsScope bool, queue func(b *pgx.Batch)) error {
	if s.BypassesRLS {
		if err := d.combinedRead(ctx, s, setsScope, queue); err != nil {
			return fmt.Errorf("pipeline as %q: %w", s.Role, err)
		}
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(setScope, anyArgs(d.scopeValues(s))...)
	queue(b)
	if err := d.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("pipeline as %q: %w", s.Role, err)
	}
	return nil
}

// commitTag fails a COMMIT that the server turned into a ROLLBACK (the transaction had
// failed): nothing was committed.
func commitTag(ct pgconn.CommandTag) error {
	if ct.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// ReadBucket reads one bucket as s in one round trip.
func (d *DB) ReadBucket(ctx context.Context, s Scope, id string) (Bucket, error) {
	var out Bucket
	var scanErr error
	err := d.readPipeline(ctx, s, func(b *pgx.Batch) {
		b.Queue(`select `+bucketColumns+` from storage.buckets where id = $1`, id).QueryRow(func(row pgx.Row) error {
			out, scanErr = scanBucket(row)
			return nil
		})
	})
	if err != nil {
		return Bucket{}, err
	}
	return out, scanErr
}

// Reservation is what a single-request upload records before its bytes: the write
// intent of Key and the caller's preflight.
type Reservation struct {
	Service Scope // the transaction's scope (the intent is the service's)
	Caller  Scope // the preflight's
	// Probe is the row the preflight inserts (or upserts) as Caller and undoes.
	Probe  Object
	Upsert bool
	// CallerBypassesRLS: Caller's role is a superuser or BYPASSRLS, so no policy can refuse
	// it. The probe is then left out: with Upsert nothing could refuse the write, and
	// without it the intent is recorded only while no row holds the name (ErrUniqueViolated
	// otherwise): no savepoint, no insert to undo.
	CallerBypassesRLS bool
	// Key is the blob key whose write intent is recorded; "" records none (bytes that commit
	// with the row, QueueSmallBlob): a caller that bypasses RLS then needs no round trip at
	// all, and one without upsert learns of an existing row from the commit instead.
	Key     string
	Expires time.Time
}

// Reserve records r's write intent and runs its preflight in one round trip: begin, the
// service's settings, the intent, the caller's settings, the insert inside a savepoint
// that is rolled back, commit. A refused preflight fails the transaction, so its intent
// never exists.
func (d *DB) Reserve(ctx context.Context, r Reservation) error {
	if r.CallerBypassesRLS && !r.Upsert && r.Key != "" {
		var inserted bool
		err := d.pipeline(ctx, r.Service, func(b *pgx.Batch) {
			b.Queue(`insert into stowage.blob_intents (key, kind, expires_at) select $1, $2, $3
				where not exists (select from storage.objects where bucket_id = $4 and name = $5)
				on conflict (key) do update set kind = excluded.kind, expires_at = excluded.expires_at`,
				r.Key, IntentWrite, r.Expires, r.Probe.BucketID, r.Probe.Name).Exec(func(ct pgconn.CommandTag) error {
				inserted = ct.RowsAffected() == 1
				return nil
			})
			b.Queue(asyncCommit)
		})
		if err == nil && !inserted {
			err = ErrUniqueViolated
		}
		return err
	}
	if r.Key == "" && r.CallerBypassesRLS {
		return nil // nothing to record, nothing to judge: the commit checks the rest
	}
	return d.pipeline(ctx, r.Service, func(b *pgx.Batch) {
		if r.Key != "" {
			b.Queue(addIntentSQL, r.Key, IntentWrite, r.Expires)
			b.Queue(asyncCommit)
		}
		if r.CallerBypassesRLS {
			return
		}
		insert := insertObjectSQL
		if r.Upsert {
			insert = upsertObjectSQL
		}
		b.Queue(setScope, anyArgs(d.scopeValues(r.Caller))...)
		b.Queue(`savepoint reserve_write`)
		b.Queue(insert, objectArgs(r.Probe)...)
		b.Queue(`rollback to savepoint reserve_write`)
	})
}

// BypassesRLS reports whether role is a superuser or has BYPASSRLS: row level security
// never refuses it. A role the database lacks does not.
func (d *DB) BypassesRLS(ctx context.Context, role string) (bool, error) {
	var bypass bool
	err := d.pool.QueryRow(ctx, bypassesRLSSQL, role).Scan(&bypass)
	return bypass, Classify(err)
}

const bypassesRLSSQL = `select coalesce((select rolsuper or rolbypassrls from pg_roles where rolname = $1), false)`

// asyncCommit, queued in a transaction that only records or forgets blob intents, lets its
// COMMIT return before the WAL is flushed. An intent only guides cleanup, never what is
// visible: an object becomes visible by the synchronous commit of its row, and that flush
// also makes every earlier WAL record durable (the WAL is written in order), this intent
// included. What a Postgres crash can lose is an intent whose write never committed (its
// blob then waits for fsck instead of the sweep) or a forgotten intent coming back (the
// sweep deletes blobs that are already gone). A gateway crash loses nothing: a committed
// transaction is visible at once and the WAL writer flushes it within wal_writer_delay.
const asyncCommit = `set local synchronous_commit = off`

// intentsByIndex makes the rest of the transaction find intents by their primary key
// rather than by a sequential scan. stowage.blob_intents is a queue: every upload inserts
// a row and deletes it a moment later, so between autovacuum's visits (a minute apart by
// default) it holds few live rows in many pages, and its key index grows with the dead
// entries. Estimated from few rows in many pages, the index costs about as much as reading
// the whole table, and the generic plan a pooled connection keeps flips to a sequential scan
// of every page (seen under a steady PUT load: one in two deletes of an intent). Sent just
// before the delete; it holds for the rest of the transaction, whose statements after it are
// all keyed (the event row, delete intents, a completion's upload and part rows) and where
// a table without a usable index is still scanned (the setting only makes scans dearer).
const intentsByIndex = `set local enable_seqscan = off`

// ForgetIntents removes the intents of keys in one round trip (see asyncCommit): the work
// they guarded is done.
func (d *DB) ForgetIntents(ctx context.Context, keys ...string) error {
	b := &pgx.Batch{}
	b.Queue(`begin`)
	b.Queue(asyncCommit)
	queueForget(b, keys)
	b.Queue(`commit`)
	return d.sendBatch(ctx, b)
}

// InObjectTx is InTx for a commit on bucket/name: its first round trip takes the per-key
// advisory lock (LockKey) and reads and row-locks the object, and fn gets that row (err
// ErrNotFound when there is none; the lock is held anyway). Statements fn queues with
// QueueCommitObject, QueueAddIntent and QueueAtCommit go with COMMIT, in one more round
// trip; any statement fn runs directly costs one of its own and fits as well.
func (d *DB) InObjectTx(ctx context.Context, s Scope, bucket, name string, fn func(tx Tx, cur Object, err error) error) error {
	var cur Object
	var scanErr error
	first := func(b *pgx.Batch) {
		queueLock(b, bucket, name)
		b.Queue(`select `+objectColumns+` from storage.objects where bucket_id = $1 and name = $2 for update`, bucket, name).
			QueryRow(func(row pgx.Row) error {
				cur, scanErr = scanObject(row)
				return nil
			})
	}
	return d.inTxWith(ctx, s, pgx.TxOptions{}, first, func(tx Tx) error { return fn(tx, cur, scanErr) })
}

// InBucketTx is InTx whose first round trip (begin, settings) also reads bucket's row as s:
// fn gets what GetBucket would have returned (ErrNotFound when s sees no row) without a
// round trip of its own.
func (d *DB) InBucketTx(ctx context.Context, s Scope, bucket string, fn func(tx Tx, b Bucket, err error) error) error {
	var bk Bucket
	var scanErr error
	first := func(b *pgx.Batch) {
		b.Queue(`select `+bucketColumns+` from storage.buckets where id = $1`, bucket).
			QueryRow(func(row pgx.Row) error {
				bk, scanErr = scanBucket(row)
				return nil
			})
	}
	return d.inTxWith(ctx, s, pgx.TxOptions{}, first, func(tx Tx) error { return fn(tx, bk, scanErr) })
}

// QueueAtCommit queues a statement to be sent with COMMIT (in the same pipeline); its
// failure fails the commit.
func (t Tx) QueueAtCommit(sql string, args ...any) {
	t.atCommit.Queue(sql, args...)
}

// QueueCommitObject is CommitObject sent with COMMIT: *out is the stored row once the
// transaction has committed, *scanErr the failure to read it back (the commit stands: the
// callback must not fail a pipeline whose COMMIT the server runs anyway).
func (t Tx) QueueCommitObject(o Object, out *Object, scanErr *error, intentKeys ...string) {
	t.atCommit.Queue(upsertObjectSQL, objectArgs(o)...).QueryRow(func(row pgx.Row) error {
		*out, *scanErr = scanObject(row)
		return nil
	})
	if len(intentKeys) > 0 {
		queueForget(t.atCommit, intentKeys)
	}
}

// QueueSmallBlob stores data under key (a new blob key) with COMMIT: the object's bytes
// commit with its row, in its transaction and its WAL flush, so no write intent is needed
// (gateway/inline). data must stay untouched until the commit has run.
func (t Tx) QueueSmallBlob(key string, data []byte) {
	t.atCommit.Queue(`insert into stowage.small_blobs (key, data) values ($1, $2)`, key, data)
}

// queueForget queues the removal of keys' intents. One key (every commit of a single-request
// upload) is removed by equality: Postgres builds a custom plan for every execution of
// "key = any($1)" (an array of unknown length makes its generic plan look dearer), but
// settles on the generic plan of "key = $1" after five, so a new key plans nothing.
func queueForget(b *pgx.Batch, keys []string) {
	b.Queue(intentsByIndex)
	if len(keys) == 1 {
		b.Queue(`delete from stowage.blob_intents where key = $1`, keys[0])
		return
	}
	b.Queue(`delete from stowage.blob_intents where key = any($1)`, keys)
}

// QueueAddIntent is AddIntent sent with COMMIT.
func (t Tx) QueueAddIntent(key, kind string, expires time.Time) {
	t.atCommit.Queue(addIntentSQL, key, kind, expires)
}
