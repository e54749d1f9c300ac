package db

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Small blobs: the bytes of small objects kept in stowage.small_blobs instead of the blob
// store (gateway/inline). These statements run as the pool's own role, like the
// intents they sit beside: the engine has already decided who may read or write the object.

// PutSmallBlob stores data under key, replacing what was there, in one round trip. It
// commits without waiting for the WAL flush (see asyncCommit): the bytes only become
// reachable when a row naming key commits, synchronously, after this returns, and that
// commit's flush makes this insert durable too (the WAL is written in order). A crash in
// between leaves a row no object names, which the write intent the engine recorded first
// hands to the sweep, as it would a file.
func (d *DB) PutSmallBlob(ctx context.Context, key string, data []byte) error {
	b := &pgx.Batch{}
	// No begin/commit: the pipeline's implicit transaction ends at its Sync, and
	// set_config(…, true) holds until then.
	b.Queue(`select set_config('synchronous_commit', 'off', true)`)
	b.Queue(`insert into stowage.small_blobs (key, data) values ($1, $2)
		on conflict (key) do update set data = excluded.data, created_at = now()`, key, data)
	return d.sendBatch(ctx, b)
}

// ReadSmallBlob returns the bytes stored under key; ErrNotFound when there are none.
func (d *DB) ReadSmallBlob(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := d.pool.QueryRow(ctx, `select data from stowage.small_blobs where key = $1`, key).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return data, Classify(err)
}

// SmallBlobSize is the length of the bytes stored under key; ErrNotFound when there are none.
func (d *DB) SmallBlobSize(ctx context.Context, key string) (int64, error) {
	var n int64
	err := d.pool.QueryRow(ctx, `select length(data) from stowage.small_blobs where key = $1`, key).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	return n, Classify(err)
}

// DeleteSmallBlobs removes the bytes of keys; keys without any are no error. Like
// PutSmallBlob it does not wait for the WAL flush: a removal lost to a Postgres crash comes
// back as bytes no row names, which the delete intent still recorded for them removes again.
func (d *DB) DeleteSmallBlobs(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`select set_config('synchronous_commit', 'off', true)`)
	if len(keys) == 1 {
		b.Queue(`delete from stowage.small_blobs where key = $1`, keys[0])
	} else {
		b.Queue(`delete from stowage.small_blobs where key = any($1)`, keys)
	}
	return d.sendBatch(ctx, b)
}

// ForgetSmallBlobs removes the bytes of keys kept here and the intents of keys, in one
// round trip: ForgetIntents for blobs of a store that keeps small ones here, whose bytes
// elsewhere are already gone (gateway/inline). A crash before it commits leaves
// both, and the sweep removes them again.
func (d *DB) ForgetSmallBlobs(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`begin`)
	b.Queue(asyncCommit)
	// The intents first: the sweep locks an intent, then deletes its row (gateway
	// deleteBlobInTx), so taking them the other way round here could deadlock with it.
	queueForget(b, keys)
	if len(keys) == 1 {
		b.Queue(`delete from stowage.small_blobs where key = $1`, keys[0])
	} else {
		b.Queue(`delete from stowage.small_blobs where key = any($1)`, keys)
	}
	b.Queue(`commit`)
	return d.sendBatch(ctx, b)
}

// SpillSmallBlob moves key's bytes out of this table, in one transaction that holds the
// row's lock: write is given the bytes (to store them elsewhere, durably), then the row is
// deleted. A blob that an intent names (a write not committed yet, or bytes being deleted,
// whose deleter may have removed the elsewhere copy before write made it) stays here: when
// the intent is there before write, write is not called; when it appears during write,
// undo is called (to remove what write stored) and the row stays. moved reports whether the
// row went. A concurrent spill of the same key waits for the lock, then finds no row.
func (d *DB) SpillSmallBlob(ctx context.Context, key string, write func(data []byte) error, undo func() error) (moved bool, err error) {
	const noIntent = `not exists (select 1 from stowage.blob_intents i where i.key = $1)`
	var callerErr error // write's or undo's, returned as it is
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var data []byte
		err := tx.QueryRow(ctx, `select data from stowage.small_blobs s where s.key = $1 and `+noIntent+` for update of s`, key).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if callerErr = write(data); callerErr != nil {
			return callerErr
		}
		ct, err := tx.Exec(ctx, `delete from stowage.small_blobs s where s.key = $1 and `+noIntent, key)
		if err != nil {
			return err
		}
		if ct.RowsAffected() == 0 {
			callerErr = undo()
			return callerErr
		}
		moved = true
		return nil
	})
	if err != nil && callerErr == nil {
		err = Classify(err)
	}
	if err != nil {
		moved = false
	}
	return moved, err
}

// DeleteSmallBlob removes the bytes of key kept here, in t.
func (t Tx) DeleteSmallBlob(ctx context.Context, key string) error {
	_, err := t.tx.Exec(ctx, `delete from stowage.small_blobs where key = $1`, key)
	return Classify(err)
}

// CopySmallBlob stores the bytes of src under dst as well, without moving them through the
// gateway; ErrNotFound when src has none. It commits as PutSmallBlob does.
func (d *DB) CopySmallBlob(ctx context.Context, src, dst string) (int64, error) {
	b := &pgx.Batch{}
	b.Queue(`select set_config('synchronous_commit', 'off', true)`)
	var n int64
	found := false
	b.Queue(`insert into stowage.small_blobs (key, data) select $2, data from stowage.small_blobs where key = $1
		on conflict (key) do update set data = excluded.data, created_at = now()
		returning length(data)`, src, dst).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			found = true
			if err := rows.Scan(&n); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err := d.sendBatch(ctx, b); err != nil {
		return 0, err
	}
	if !found {
		return 0, ErrNotFound
	}
	return n, nil
}

// SmallBlobKeys returns which of keys have bytes stored.
func (d *DB) SmallBlobKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	rows, err := d.pool.Query(ctx, `select key from stowage.small_blobs where key = any($1)`, keys)
	if err != nil {
		return nil, Classify(err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, Classify(err)
	}
	m := make(map[string]bool, len(found))
	for _, k := range found {
		m[k] = true
	}
	return m, nil
}

// SmallBlob is one row of ListSmallBlobs.
type SmallBlob struct {
	Key      string
	Size     int64
	Modified time.Time
}

// ListSmallBlobs returns up to limit stored keys that sort after after (byte order) and are
// at least from, in byte order: a page of a listing that starts at a prefix (from) and goes
// on from the last key of the page before (after).
func (d *DB) ListSmallBlobs(ctx context.Context, from, after string, limit int) ([]SmallBlob, error) {
	rows, err := d.pool.Query(ctx, `select key, length(data), created_at from stowage.small_blobs
		where key >= $1 and key > $2 order by key limit $3`, from, after, limit)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SmallBlob, error) {
		var b SmallBlob
		err := r.Scan(&b.Key, &b.Size, &b.Modified)
		return b, err
	})
	return out, Classify(err)
}
