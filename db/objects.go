package db

import (
	"context"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Object is a storage.objects row.
type Object struct {
	ID             string
	BucketID       string
	Name           string
	Owner          string
	OwnerID        string
	Version        string
	Metadata       json.RawMessage // system metadata (eTag, size, mimetype, ...)
	UserMetadata   json.RawMessage // client metadata, may be null
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastAccessedAt time.Time
}

const objectColumns = `id::text, bucket_id, name, coalesce(owner::text, ''), coalesce(owner_id, ''), coalesce(version, ''),
	coalesce(metadata, '{}'::jsonb), user_metadata, coalesce(created_at, now()), coalesce(updated_at, now()), coalesce(last_accessed_at, now())`

func scanObject(row pgx.Row) (Object, error) {
	var o Object
	var um []byte
	err := row.Scan(&o.ID, &o.BucketID, &o.Name, &o.Owner, &o.OwnerID, &o.Version, &o.Metadata, &um, &o.CreatedAt, &o.UpdatedAt, &o.LastAccessedAt)
	if um != nil {
		o.UserMetadata = um
	}
	return o, Classify(err)
}

func collectObjects(rows pgx.Rows, err error) ([]Object, error) {
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Object, error) { return scanObject(r) })
	return out, Classify(err)
}

// GetObject reads one object visible to the scope.
func (t Tx) GetObject(ctx context.Context, bucket, name string) (Object, error) {
	return scanObject(t.tx.QueryRow(ctx, `select `+objectColumns+` from storage.objects where bucket_id = $1 and name = $2`, bucket, name))
}

// GetObjectForUpdate reads and row-locks one object.
func (t Tx) GetObjectForUpdate(ctx context.Context, bucket, name string) (Object, error) {
	return scanObject(t.tx.QueryRow(ctx, `select `+objectColumns+` from storage.objects where bucket_id = $1 and name = $2 for update`, bucket, name))
}

func jsonArg(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return string(m)
}

// InsertObject inserts a new row (a unique violation means the key exists).
func (t Tx) InsertObject(ctx context.Context, o Object) (Object, error) {
	const q = `insert into storage.objects (bucket_id, name, owner, owner_id, version, metadata, user_metadata)
		values ($1, $2, nullif($3, '')::uuid, nullif($4, ''), $5, $6::jsonb, $7::jsonb)
		returning ` + objectColumns
	return scanObject(t.tx.QueryRow(ctx, q, o.BucketID, o.Name, o.Owner, o.OwnerID, o.Version, jsonArg(o.Metadata), jsonArg(o.UserMetadata)))
}

// UpsertObject inserts or overwrites the row of bucket/name, keeping its id, as the
// reference's `insert … on conflict (name, bucket_id) do update` does.
func (t Tx) UpsertObject(ctx context.Context, o Object) (Object, error) {
	const q = `insert into storage.objects (bucket_id, name, owner, owner_id, version, metadata, user_metadata)
		values ($1, $2, nullif($3, '')::uuid, nullif($4, ''), $5, $6::jsonb, $7::jsonb)
		on conflict (name, bucket_id) do update set
			owner = excluded.owner, owner_id = excluded.owner_id, version = excluded.version,
			metadata = excluded.metadata, user_metadata = excluded.user_metadata, last_accessed_at = now()
		returning ` + objectColumns
	return scanObject(t.tx.QueryRow(ctx, q, o.BucketID, o.Name, o.Owner, o.OwnerID, o.Version, jsonArg(o.Metadata), jsonArg(o.UserMetadata)))
}

// MoveObject renames the row of srcBucket/srcName (keeping its id) and points it at a new
// version, only while the row still holds srcVersion (the version whose bytes were copied
// for dst); ErrNotFound when no visible row matched.
func (t Tx) MoveObject(ctx context.Context, srcBucket, srcName, srcVersion string, dst Object) (Object, error) {
	const q = `update storage.objects set bucket_id = $3, name = $4, version = $5,
			metadata = coalesce($6::jsonb, metadata), user_metadata = coalesce($7::jsonb, user_metadata),
			owner = nullif($8, '')::uuid, owner_id = nullif($9, '')
		where bucket_id = $1 and name = $2 and coalesce(version, '') = $10 returning ` + objectColumns
	return scanObject(t.tx.QueryRow(ctx, q, srcBucket, srcName, dst.BucketID, dst.Name, dst.Version, jsonArg(dst.Metadata), jsonArg(dst.UserMetadata), dst.Owner, dst.OwnerID, srcVersion))
}

// DeleteObjects deletes the visible rows among names and returns them.
func (t Tx) DeleteObjects(ctx context.Context, bucket string, names []string) ([]Object, error) {
	rows, err := t.tx.Query(ctx, `delete from storage.objects where bucket_id = $1 and name = any($2) returning `+objectColumns, bucket, names)
	return collectObjects(rows, err)
}

// ListObjects returns up to limit objects of bucket whose name starts with prefix, sorts
// after `after` and at or after `from`, in byte order: an index range scan on
// (bucket_id, name COLLATE "C").
func (t Tx) ListObjects(ctx context.Context, bucket, prefix, after, from string, limit int) ([]Object, error) {
	const q = `select ` + objectColumns + ` from storage.objects
		where bucket_id = $1 and name collate "C" > $2 and name collate "C" >= $3
		  and ($4 = '' or name collate "C" < $4)
		order by name collate "C" limit $5`
	if from < prefix {
		from = prefix
	}
	return collectObjects(t.tx.Query(ctx, q, bucket, after, from, PrefixUpperBound(prefix), limit))
}

// PrefixUpperBound returns the smallest string greater than every string with prefix p, in
// code point order ("" when there is none). It stays valid UTF-8, as Postgres requires.
func PrefixUpperBound(p string) string {
	r := []rune(p)
	for i := len(r) - 1; i >= 0; i-- {
		switch {
		case r[i] == 0xD7FF:
			r[i] = 0xE000
		case r[i] < utf8.MaxRune:
			r[i]++
		default:
			continue
		}
		return string(r[:i+1])
	}
	return ""
}

// ObjectsInBucket lists up to limit names of a bucket after startAfter, for emptying it.
func (t Tx) ObjectsInBucket(ctx context.Context, bucket, startAfter string, limit int) ([]Object, error) {
	return t.ListObjects(ctx, bucket, "", startAfter, "", limit)
}
