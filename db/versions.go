package db

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// Versioning states of a bucket (stowage.bucket_versioning); "" is never versioned.
const (
	VersioningEnabled   = "Enabled"
	VersioningSuspended = "Suspended"
)

// NullVersion is S3's version id of a version written while versioning was not Enabled.
const NullVersion = "null"

// CurrentSeq is the seq of a current (storage.objects) row in version listings: newer than
// every non-current version of its key.
const CurrentSeq = math.MaxInt64

// Version is one version of a key: a storage.objects row (IsLatest, Seq CurrentSeq) or a
// stowage.object_versions row (a non-current version or a delete marker).
type Version struct {
	Seq          int64
	BucketID     string
	Name         string
	VersionID    string // S3's version id ("null" or the blob version)
	BlobVersion  string // the version in the blob key; "" for a delete marker
	DeleteMarker bool
	Owner        string
	OwnerID      string
	Metadata     json.RawMessage
	UserMetadata json.RawMessage
	CreatedAt    time.Time
	LastModified time.Time
	// NoncurrentSince is when the version stopped being the latest (zero for the latest).
	NoncurrentSince time.Time
	IsLatest        bool
}

// Row is v as a storage.objects row (Version is the blob version).
func (v Version) Row() Object {
	return Object{BucketID: v.BucketID, Name: v.Name, Owner: v.Owner, OwnerID: v.OwnerID, Version: v.BlobVersion,
		Metadata: v.Metadata, UserMetadata: v.UserMetadata, CreatedAt: v.CreatedAt, UpdatedAt: v.LastModified,
		LastAccessedAt: v.LastModified}
}

const versionColumns = `seq, bucket_id, name, version_id, coalesce(blob_version, ''), delete_marker, coalesce(owner, ''),
	coalesce(owner_id, ''), coalesce(metadata, '{}'::jsonb), user_metadata, created_at, last_modified, noncurrent_since`

func scanVersion(row pgx.Row) (Version, error) {
	var v Version
	var um []byte
	err := row.Scan(&v.Seq, &v.BucketID, &v.Name, &v.VersionID, &v.BlobVersion, &v.DeleteMarker, &v.Owner, &v.OwnerID,
		&v.Metadata, &um, &v.CreatedAt, &v.LastModified, &v.NoncurrentSince)
	if um != nil && string(um) != "null" {
		v.UserMetadata = um
	}
	return v, Classify(err)
}

// VersioningStatus is bucket's versioning state: "" when it was never versioned.
func (t Tx) VersioningStatus(ctx context.Context, bucket string) (string, error) {
	var s string
	err := t.tx.QueryRow(ctx, `select status from stowage.bucket_versioning where bucket_id = $1`, bucket).Scan(&s)
	if err := Classify(err); err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	return s, nil
}

// SetVersioningStatus records bucket's versioning state (Enabled or Suspended).
func (t Tx) SetVersioningStatus(ctx context.Context, bucket, status string) error {
	_, err := t.tx.Exec(ctx, `insert into stowage.bucket_versioning (bucket_id, status) values ($1, $2)
		on conflict (bucket_id) do update set status = excluded.status, updated_at = now()`, bucket, status)
	return Classify(err)
}

// CurrentVersionID is the S3 version id of the current row of bucket/name that points at
// blobVersion: blobVersion when it was written while versioning was Enabled, else "null".
func (t Tx) CurrentVersionID(ctx context.Context, bucket, name, blobVersion string) (string, error) {
	var ok bool
	err := t.tx.QueryRow(ctx, `select exists(select 1 from stowage.current_versions where bucket_id = $1 and name = $2 and version = $3)`,
		bucket, name, blobVersion).Scan(&ok)
	if ok {
		return blobVersion, Classify(err)
	}
	return NullVersion, Classify(err)
}

// VersionState is VersioningStatus, CurrentVersionID and the bucket's lifecycle rules
// (nil without) in one statement.
func (t Tx) VersionState(ctx context.Context, bucket, name, blobVersion string) (status, versionID string, lifecycle json.RawMessage, err error) {
	var raw []byte
	err = t.tx.QueryRow(ctx, `select coalesce((select status from stowage.bucket_versioning where bucket_id = $1), ''),
		case when exists(select 1 from stowage.current_versions where bucket_id = $1 and name = $2 and version = $3) then $3 else 'null' end,
		(select rules from stowage.bucket_lifecycle where bucket_id = $1)`,
		bucket, name, blobVersion).Scan(&status, &versionID, &raw)
	if raw != nil {
		lifecycle = raw
	}
	return status, versionID, lifecycle, Classify(err)
}

// SetCurrentVersion records that the current row of bucket/name (blob version) has its
// blob version as version id. The entry is never removed: once the key's current row points
// at another blob version it no longer matches, and that row is "null" (blob versions are
// unique, so a stale entry matches again only when that very version is current again).
func (t Tx) SetCurrentVersion(ctx context.Context, bucket, name, blobVersion string) error {
	_, err := t.tx.Exec(ctx, `insert into stowage.current_versions (bucket_id, name, version) values ($1, $2, $3)
		on conflict (bucket_id, name) do update set version = excluded.version`, bucket, name, blobVersion)
	return Classify(err)
}

// SaveVersion records v as the newest non-current version (or delete marker) of its key.
func (t Tx) SaveVersion(ctx context.Context, v Version) error {
	var blob any
	if !v.DeleteMarker {
		blob = v.BlobVersion
	}
	lm := v.LastModified
	if lm.IsZero() {
		lm = time.Now()
	}
	ca := v.CreatedAt
	if ca.IsZero() {
		ca = lm
	}
	_, err := t.tx.Exec(ctx, `insert into stowage.object_versions (bucket_id, name, version_id, blob_version, delete_marker,
			owner, owner_id, metadata, user_metadata, created_at, last_modified)
		values ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, ''), $8::jsonb, $9::jsonb, $10, $11)`,
		v.BucketID, v.Name, v.VersionID, blob, v.DeleteMarker, v.Owner, v.OwnerID, jsonArg(v.Metadata), jsonArg(v.UserMetadata), ca, lm)
	return Classify(err)
}

// GetVersion reads one non-current version (or delete marker); ErrNotFound when missing.
func (t Tx) GetVersion(ctx context.Context, bucket, name, versionID string) (Version, error) {
	return scanVersion(t.tx.QueryRow(ctx, `select `+versionColumns+` from stowage.object_versions
		where bucket_id = $1 and name = $2 and version_id = $3`, bucket, name, versionID))
}

// DeleteVersion removes one non-current version (or delete marker) and returns it.
func (t Tx) DeleteVersion(ctx context.Context, bucket, name, versionID string) (Version, error) {
	return scanVersion(t.tx.QueryRow(ctx, `delete from stowage.object_versions
		where bucket_id = $1 and name = $2 and version_id = $3 returning `+versionColumns, bucket, name, versionID))
}

// NewestVersion is the newest non-current version (or delete marker) of bucket/name.
func (t Tx) NewestVersion(ctx context.Context, bucket, name string) (Version, error) {
	return scanVersion(t.tx.QueryRow(ctx, `select `+versionColumns+` from stowage.object_versions
		where bucket_id = $1 and name = $2 order by seq desc limit 1`, bucket, name))
}

// BucketHasVersions reports whether bucket holds non-current versions or delete markers.
func (t Tx) BucketHasVersions(ctx context.Context, bucket string) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(ctx, `select exists(select 1 from stowage.object_versions where bucket_id = $1)`, bucket).Scan(&ok)
	return ok, Classify(err)
}

// listVersionsSQL merges the current rows and the non-current versions of a bucket in S3's
// order: by name (byte order), then newest first. ($4, $5) is the position to continue
// after: versions of name $4 older than seq $5, then later names.
const listVersionsSQL = `with cur as (
	select 0::bigint as seq, o.bucket_id, o.name, case when cv.version is null then 'null' else o.version end as version_id,
		coalesce(o.version, '') as blob_version, false as delete_marker, coalesce(o.owner::text, '') as owner,
		coalesce(o.owner_id, '') as owner_id, coalesce(o.metadata, '{}'::jsonb) as metadata, o.user_metadata,
		coalesce(o.created_at, now()) as created_at, coalesce(o.updated_at, now()) as last_modified,
		'epoch'::timestamptz as noncurrent_since, true as is_latest, true as current
	from storage.objects o
	left join stowage.current_versions cv on cv.bucket_id = o.bucket_id and cv.name = o.name and cv.version = o.version
	where o.bucket_id = $1 and o.name collate "C" >= $2 and ($3 = '' or o.name collate "C" < $3)
	  and o.name collate "C" > $4 and o.name collate "C" >= $7
	order by o.name collate "C" limit $6
), old as (
	select v.seq, v.bucket_id, v.name, v.version_id, coalesce(v.blob_version, ''), v.delete_marker, coalesce(v.owner, ''),
		coalesce(v.owner_id, ''), coalesce(v.metadata, '{}'::jsonb), v.user_metadata, v.created_at, v.last_modified,
		v.noncurrent_since,
		not exists (select 1 from storage.objects o where o.bucket_id = v.bucket_id and o.name = v.name)
		  and v.seq = (select max(w.seq) from stowage.object_versions w where w.bucket_id = v.bucket_id and w.name = v.name),
		false
	from stowage.object_versions v
	where v.bucket_id = $1 and v.name collate "C" >= $2 and ($3 = '' or v.name collate "C" < $3)
	  and (v.name collate "C" > $4 or (v.name = $4 and v.seq < $5)) and v.name collate "C" >= $7
	order by v.name collate "C", v.seq desc limit $6
)
select * from (select * from cur union all select * from old) u
order by name collate "C", current desc, seq desc limit $6`

// ListVersions returns up to limit versions of bucket under prefix, after the position
// (afterName, afterSeq): afterSeq CurrentSeq continues with afterName's non-current
// versions, another seq with those older than it, and -1 with the next name.
// Names sort at or after from.
func (t Tx) ListVersions(ctx context.Context, bucket, prefix, from, afterName string, afterSeq int64, limit int) ([]Version, error) {
	// A current row sorts before its key's versions, so afterName's is always behind.
	rows, err := t.tx.Query(ctx, listVersionsSQL, bucket, prefix, PrefixUpperBound(prefix), afterName, afterSeq, limit, from)
	if err != nil {
		return nil, Classify(err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var v Version
		var um []byte
		var current bool
		if err := rows.Scan(&v.Seq, &v.BucketID, &v.Name, &v.VersionID, &v.BlobVersion, &v.DeleteMarker, &v.Owner, &v.OwnerID,
			&v.Metadata, &um, &v.CreatedAt, &v.LastModified, &v.NoncurrentSince, &v.IsLatest, &current); err != nil {
			return nil, Classify(err)
		}
		if um != nil && string(um) != "null" {
			v.UserMetadata = um
		}
		if current {
			v.Seq, v.NoncurrentSince = CurrentSeq, time.Time{}
		}
		out = append(out, v)
	}
	return out, Classify(rows.Err())
}

// VisibleKeys judges, as caller, which of names the caller may read (select) or delete:
// a name's live row is judged as it is; a name without one (its latest version is a
// delete marker) is judged on a stand-in row with the columns of probes[name], inserted as
// the transaction's own identity in a savepoint that is rolled back. The caller's
// policies on storage.objects thus decide for versions too. The transaction's identity
// (outer) is restored afterwards.
func (t Tx) VisibleKeys(ctx context.Context, outer, caller Scope, bucket string, probes []Object, del bool) (map[string]bool, error) {
	sp, err := t.tx.Begin(ctx)
	if err != nil {
		return nil, Classify(err)
	}
	defer func() { _ = sp.Rollback(ctx) }()
	names := make([]string, len(probes))
	for i, p := range probes {
		names[i] = p.Name
		if _, err := sp.Exec(ctx, `insert into storage.objects (bucket_id, name, owner, owner_id, version, metadata, user_metadata)
			values ($1, $2, nullif($3, '')::uuid, nullif($4, ''), $5, $6::jsonb, $7::jsonb) on conflict (name, bucket_id) do nothing`,
			objectArgs(p)...); err != nil {
			return nil, Classify(err)
		}
	}
	if err := t.db.applyScope(ctx, sp, caller); err != nil {
		return nil, err
	}
	q := `select name from storage.objects where bucket_id = $1 and name = any($2)`
	if del {
		q = `delete from storage.objects where bucket_id = $1 and name = any($2) returning name`
	}
	rows, err := sp.Query(ctx, q, bucket, names)
	if err != nil {
		return nil, Classify(err)
	}
	visible := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, Classify(err)
		}
		visible[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, Classify(err)
	}
	if err := sp.Rollback(ctx); err != nil {
		return nil, Classify(err)
	}
	return visible, t.db.applyScope(ctx, t.tx, outer)
}

// ReadVersionState is VersionState in a transaction of its own sent as one pipeline (begin,
// the scope, the select, commit): S3 GET and HEAD ask it for every read, so it costs one
// round trip, as ReadObject does.
func (d *DB) ReadVersionState(ctx context.Context, s Scope, bucket, name, blobVersion string) (status, versionID string, lifecycle json.RawMessage, err error) {
	var raw []byte
	var scanErr error
	err = d.pipeline(ctx, s, func(b *pgx.Batch) {
		b.Queue(`select coalesce((select status from stowage.bucket_versioning where bucket_id = $1), ''),
		case when exists(select 1 from stowage.current_versions where bucket_id = $1 and name = $2 and version = $3) then $3 else 'null' end,
		(select rules from stowage.bucket_lifecycle where bucket_id = $1)`, bucket, name, blobVersion).
			QueryRow(func(row pgx.Row) error {
				scanErr = row.Scan(&status, &versionID, &raw)
				return nil
			})
	})
	if err != nil {
		return "", "", nil, err
	}
	if raw != nil {
		lifecycle = raw
	}
	return status, versionID, lifecycle, Classify(scanErr)
}
