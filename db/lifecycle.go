package db

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lifecycle returns a bucket's lifecycle rules (the engine's JSON); ErrNotFound without.
func (t Tx) Lifecycle(ctx context.Context, bucket string) (json.RawMessage, error) {
	var raw []byte
	err := t.tx.QueryRow(ctx, `select rules from stowage.bucket_lifecycle where bucket_id = $1`, bucket).Scan(&raw)
	return raw, Classify(err)
}

// SetLifecycle stores a bucket's rules; nil removes them.
func (t Tx) SetLifecycle(ctx context.Context, bucket string, rules json.RawMessage) error {
	var err error
	if rules == nil {
		_, err = t.tx.Exec(ctx, `delete from stowage.bucket_lifecycle where bucket_id = $1`, bucket)
	} else {
		_, err = t.tx.Exec(ctx, `insert into stowage.bucket_lifecycle (bucket_id, rules) values ($1, $2::jsonb)
			on conflict (bucket_id) do update set rules = excluded.rules, updated_at = now()`, bucket, string(rules))
	}
	return Classify(err)
}

// LeaseLifecycleBucket takes the lease of one bucket with rules whose lease is free or
// expired (another node crashed), skipping buckets in buckets done, until `until`.
// ok is false when no bucket is left.
func (t Tx) LeaseLifecycleBucket(ctx context.Context, owner string, now, until time.Time, done []string) (bucket string, rules json.RawMessage, ok bool, err error) {
	var raw []byte
	err = t.tx.QueryRow(ctx, `update stowage.bucket_lifecycle set lease_owner = $1, lease_until = $3
		where bucket_id = (select bucket_id from stowage.bucket_lifecycle
			where (lease_until is null or lease_until < $2) and bucket_id <> all($4)
			order by bucket_id limit 1 for update skip locked)
		returning bucket_id, rules`, owner, now, until, done).Scan(&bucket, &raw)
	if errors.Is(Classify(err), ErrNotFound) {
		return "", nil, false, nil
	}
	return bucket, raw, err == nil, Classify(err)
}

// ReleaseLifecycleLease gives a bucket's lease back.
func (t Tx) ReleaseLifecycleLease(ctx context.Context, bucket, owner string) error {
	_, err := t.tx.Exec(ctx, `update stowage.bucket_lifecycle set lease_owner = null, lease_until = null
		where bucket_id = $1 and lease_owner = $2`, bucket, owner)
	return Classify(err)
}

// ObjectsModifiedBefore lists up to limit current objects of bucket under prefix, after
// name `after`, last written before cutoff.
func (t Tx) ObjectsModifiedBefore(ctx context.Context, bucket, prefix, after string, cutoff time.Time, limit int) ([]Object, error) {
	rows, err := t.tx.Query(ctx, `select `+objectColumns+` from storage.objects
		where bucket_id = $1 and name collate "C" >= $2 and ($3 = '' or name collate "C" < $3) and name collate "C" > $4
		  and coalesce(updated_at, created_at) < $5
		order by name collate "C" limit $6`, bucket, prefix, PrefixUpperBound(prefix), after, cutoff, limit)
	return collectObjects(rows, err)
}

// NoncurrentDue lists up to limit non-current versions (and delete markers that are not
// the latest) of bucket under prefix, after seq `after`, that became non-current before
// cutoff and have at least `newer` newer non-current versions of their key.
func (t Tx) NoncurrentDue(ctx context.Context, bucket, prefix string, cutoff time.Time, newer int, afterSeq int64, limit int) ([]Version, error) {
	rows, err := t.tx.Query(ctx, `select `+versionColumns+` from (
			select v.*, row_number() over (partition by v.name order by v.seq desc) as rank,
				exists (select 1 from storage.objects o where o.bucket_id = v.bucket_id and o.name = v.name) as has_current
			from stowage.object_versions v
			where v.bucket_id = $1 and v.name collate "C" >= $2 and ($3 = '' or v.name collate "C" < $3)) r
		where noncurrent_since < $4 and seq > $6
		  and (has_current or rank > 1)                 -- never the latest version of a key
		  and rank - (case when has_current then 0 else 1 end) > $5
		order by seq limit $7`, bucket, prefix, PrefixUpperBound(prefix), cutoff, newer, afterSeq, limit)
	if err != nil {
		return nil, Classify(err)
	}
	return collectVersions(rows)
}

// LoneDeleteMarkers lists up to limit delete markers of bucket under prefix that are
// their key's only version (S3's "expired object delete markers").
func (t Tx) LoneDeleteMarkers(ctx context.Context, bucket, prefix string, afterSeq int64, limit int) ([]Version, error) {
	rows, err := t.tx.Query(ctx, `select `+versionColumns+` from stowage.object_versions v
		where v.bucket_id = $1 and v.name collate "C" >= $2 and ($3 = '' or v.name collate "C" < $3) and v.delete_marker and v.seq > $4
		  and not exists (select 1 from storage.objects o where o.bucket_id = v.bucket_id and o.name = v.name)
		  and not exists (select 1 from stowage.object_versions w where w.bucket_id = v.bucket_id and w.name = v.name and w.seq <> v.seq)
		order by seq limit $5`, bucket, prefix, PrefixUpperBound(prefix), afterSeq, limit)
	if err != nil {
		return nil, Classify(err)
	}
	return collectVersions(rows)
}

func collectVersions(rows pgx.Rows) ([]Version, error) {
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, Classify(rows.Err())
}

// UploadsStartedBefore lists up to limit multipart uploads (not resumable ones) of
// bucket under prefix started before cutoff.
func (t Tx) UploadsStartedBefore(ctx context.Context, bucket, prefix string, cutoff time.Time, limit int) ([]Upload, error) {
	rows, err := t.tx.Query(ctx, `select `+uploadColumns+` from storage.s3_multipart_uploads u
		where bucket_id = $1 and key collate "C" >= $2 and ($3 = '' or key collate "C" < $3) and created_at < $4
		  and not exists (select 1 from stowage.tus_uploads t where t.upload_id = u.id)
		order by created_at limit $5`, bucket, prefix, PrefixUpperBound(prefix), cutoff, limit)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Upload, error) { return scanUpload(r) })
	return out, Classify(err)
}
