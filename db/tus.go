package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TusUpload is a stowage.tus_uploads row: the TUS view of a resumable upload whose parts
// live in the multipart tables under UploadID.
type TusUpload struct {
	Version  string
	BucketID string
	Name     string
	UploadID string
	// Length is Upload-Length, -1 while deferred.
	Length    int64
	Metadata  string
	Upsert    bool
	OwnerID   string
	Completed bool
	ExpiresAt time.Time
	CreatedAt time.Time
	// TailKey is the blob holding the bytes that could not yet become a part ("" when
	// none); TailSize is its size.
	TailKey  string
	TailSize int64
	// MD5State is the running MD5 (crypto/md5 MarshalBinary) of the bytes up to the
	// offset; nil when unknown (an upload begun before migration 14).
	MD5State []byte
}

const tusColumns = `version, bucket_id, name, upload_id, coalesce(upload_length, -1), metadata, upsert,
	coalesce(owner_id, ''), completed, expires_at, created_at, coalesce(tail_key, ''), tail_size, md5_state`

func scanTus(row pgx.Row) (TusUpload, error) {
	var u TusUpload
	err := row.Scan(&u.Version, &u.BucketID, &u.Name, &u.UploadID, &u.Length, &u.Metadata, &u.Upsert,
		&u.OwnerID, &u.Completed, &u.ExpiresAt, &u.CreatedAt, &u.TailKey, &u.TailSize, &u.MD5State)
	return u, Classify(err)
}

// InsertTusUpload records a new resumable upload.
func (t Tx) InsertTusUpload(ctx context.Context, u TusUpload) error {
	const q = `insert into stowage.tus_uploads
			(version, bucket_id, name, upload_id, upload_length, metadata, upsert, owner_id, expires_at, created_at, md5_state)
		values ($1, $2, $3, $4, nullif($5, -1), $6, $7, nullif($8, ''), $9, $10, $11)`
	_, err := t.tx.Exec(ctx, q, u.Version, u.BucketID, u.Name, u.UploadID, u.Length, u.Metadata, u.Upsert,
		u.OwnerID, u.ExpiresAt, u.CreatedAt, u.MD5State)
	return Classify(err)
}

// GetTusUpload reads the upload writing version of bucket/name (ErrNotFound otherwise).
func (t Tx) GetTusUpload(ctx context.Context, bucket, name, version string) (TusUpload, error) {
	return scanTus(t.tx.QueryRow(ctx, `select `+tusColumns+` from stowage.tus_uploads
		where version = $1 and bucket_id = $2 and name = $3`, version, bucket, name))
}

// SetTusLength declares the length of a deferred upload; it fails with ErrNotFound when
// the length was already set.
func (t Tx) SetTusLength(ctx context.Context, version string, length int64) error {
	tag, err := t.tx.Exec(ctx, `update stowage.tus_uploads set upload_length = $2
		where version = $1 and upload_length is null`, version, length)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return Classify(err)
}

// SwapTusTail replaces an unfinished upload's tail blob oldKey ("" for none) with newKey
// ("" for none) of size bytes. It fails with ErrNotFound when the upload is gone, finished,
// or its tail is no longer oldKey.
func (t Tx) SwapTusTail(ctx context.Context, version, oldKey, newKey string, size int64) error {
	tag, err := t.tx.Exec(ctx, `update stowage.tus_uploads set tail_key = nullif($3, ''), tail_size = $4
		where version = $1 and not completed and coalesce(tail_key, '') = $2`, version, oldKey, newKey, size)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return Classify(err)
}

// SetTusMD5 records the running MD5 of an unfinished upload's bytes, in the transaction
// that records the bytes it covers. It fails with ErrNotFound when the upload is gone or
// finished.
func (t Tx) SetTusMD5(ctx context.Context, version string, state []byte) error {
	tag, err := t.tx.Exec(ctx, `update stowage.tus_uploads set md5_state = $2
		where version = $1 and not completed`, version, state)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return Classify(err)
}

// ClaimWriteIntent drops the write intent of a blob about to be linked to a row that the
// sweep cannot see (a TUS tail). ErrNotFound means the sweep took the intent first, and
// may have deleted the blob: the caller must not link it. While a sweep holds the intent
// row, this waits for it.
func (t Tx) ClaimWriteIntent(ctx context.Context, key string) error {
	tag, err := t.tx.Exec(ctx, `delete from stowage.blob_intents where key = $1 and kind = 'write'`, key)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return Classify(err)
}

// CompleteTusUpload marks an upload finished (its multipart rows are gone by then).
func (t Tx) CompleteTusUpload(ctx context.Context, version string) error {
	tag, err := t.tx.Exec(ctx, `update stowage.tus_uploads set completed = true
		where version = $1 and not completed`, version)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return Classify(err)
}

// DeleteTusUpload removes an upload's row.
func (t Tx) DeleteTusUpload(ctx context.Context, version string) error {
	_, err := t.tx.Exec(ctx, `delete from stowage.tus_uploads where version = $1`, version)
	return Classify(err)
}

// ExpiredTusUploads locks up to limit uploads that expired before now, skipping rows another
// node is sweeping at the same moment.
func (t Tx) ExpiredTusUploads(ctx context.Context, now time.Time, limit int) ([]TusUpload, error) {
	rows, err := t.tx.Query(ctx, `select `+tusColumns+` from stowage.tus_uploads
		where expires_at <= $1 order by expires_at limit $2 for update skip locked`, now, limit)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TusUpload, error) { return scanTus(r) })
	return out, Classify(err)
}

// LastPartNumber returns the highest part number of a multipart upload (0 without parts).
func (t Tx) LastPartNumber(ctx context.Context, uploadID string) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `select coalesce(max(part_number), 0) from storage.s3_multipart_uploads_parts
		where upload_id = $1`, uploadID).Scan(&n)
	return n, Classify(err)
}

// TryLock takes the transaction-scoped advisory lock key on a connection of its own and
// keeps it until release is called (or the process dies, when Postgres drops it with the
// connection). ok is false when another session holds the lock. The held transaction
// runs no statement: it only pins the lock, so bytes may move while it is open.
func (d *DB) TryLock(ctx context.Context, key int64) (release func(), ok bool, err error) {
	// A holder needs more connections for its short transactions: refuse (retryably)
	// before lock holders could take the whole pool and wait on each other.
	if s := d.pool.Stat(); s.AcquiredConns() >= s.MaxConns()-max(s.MaxConns()/4, 2) {
		return nil, false, fmt.Errorf("advisory lock: %w: connection pool nearly exhausted", ErrUnavailable)
	}
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("advisory lock: %w", Classify(err))
	}
	if err := tx.QueryRow(ctx, `select pg_try_advisory_xact_lock($1)`, key).Scan(&ok); err != nil || !ok {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, false, Classify(err)
	}
	return func() {
		// Detached: the lock must be let go even when the request's context ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}, true, nil
}
