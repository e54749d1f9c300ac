package db

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Intent kinds: a blob being written that no row references yet, or a superseded blob to
// remove. Recording them first is what lets a sweep clean up after a crash at any point.
const (
	IntentWrite  = "write"
	IntentDelete = "delete"
)

// Intent is a stowage.blob_intents row.
type Intent struct {
	Key  string
	Kind string
}

// addIntentSQL records an intent; a delete intent also forgets the part layout of the blob
// (stowage.object_parts): the transaction that unlinks an object's bytes unlinks its parts.
const addIntentSQL = `with forgotten as (delete from stowage.object_parts where $2::text = 'delete' and blob_key = $1)
	insert into stowage.blob_intents (key, kind, expires_at) values ($1, $2, $3)
	on conflict (key) do update set kind = excluded.kind, expires_at = excluded.expires_at`

// AddIntent records key; expires is when a write intent may be treated as abandoned. A
// delete intent also removes key's part layout (RecordObjectParts).
func (t Tx) AddIntent(ctx context.Context, key, kind string, expires time.Time) error {
	_, err := t.tx.Exec(ctx, addIntentSQL, key, kind, expires)
	return Classify(err)
}

// RemoveIntents forgets keys.
func (t Tx) RemoveIntents(ctx context.Context, keys ...string) error {
	_, err := t.tx.Exec(ctx, `delete from stowage.blob_intents where key = any($1)`, keys)
	return Classify(err)
}

// DueIntents locks up to limit intents that are due (abandoned writes, pending deletes),
// skipping rows another node is already handling.
func (t Tx) DueIntents(ctx context.Context, now time.Time, limit int) ([]Intent, error) {
	rows, err := t.tx.Query(ctx, `select key, kind from stowage.blob_intents where expires_at <= $1
		order by expires_at limit $2 for update skip locked`, now, limit)
	if err != nil {
		return nil, Classify(err)
	}
	defer rows.Close()
	var out []Intent
	for rows.Next() {
		var in Intent
		if err := rows.Scan(&in.Key, &in.Kind); err != nil {
			return nil, Classify(err)
		}
		out = append(out, in)
	}
	return out, Classify(rows.Err())
}

// BlobHeaders returns the content type and cache control of the object, current or
// not, whose bytes are bucket/name/version's blob; "" when no row names it (the blob of a
// part, of an object deleted since).
func (d *DB) BlobHeaders(ctx context.Context, bucket, name, version string) (contentType, cacheControl string, err error) {
	err = d.pool.QueryRow(ctx, `select coalesce(metadata->>'mimetype', ''), coalesce(metadata->>'cacheControl', '') from (
		select metadata from storage.objects where bucket_id = $1 and name = $2 and version = $3
		union all
		select metadata from stowage.object_versions where bucket_id = $1 and name = $2 and blob_version = $3
		limit 1) m`, bucket, name, version).Scan(&contentType, &cacheControl)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil
	}
	return contentType, cacheControl, Classify(err)
}

// VersionReferenced reports whether a row of bucket/name points at version.
func (t Tx) VersionReferenced(ctx context.Context, bucket, name, version string) (bool, error) {
	var ok bool
	// A non-current version (stowage.object_versions) keeps its bytes too.
	err := t.tx.QueryRow(ctx, `select exists(select 1 from storage.objects where bucket_id = $1 and name = $2 and version = $3)
		or exists(select 1 from stowage.object_versions where bucket_id = $1 and name = $2 and blob_version = $3)`,
		bucket, name, version).Scan(&ok)
	return ok, Classify(err)
}
