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

// scanObject scans objectColumns, then into extra whatever columns follow them.
func scanObject(row pgx.Row, extra ...any) (Object, error) {
	var o Object
	// The documents are scanned as bytes: into a json.RawMessage pgx would run
	// json.Unmarshal, validating what Postgres already validated.
	var m, um []byte
	dst := []any{&o.ID, &o.BucketID, &o.Name, &o.Owner, &o.OwnerID, &o.Version, &m, &um, &o.CreatedAt, &o.UpdatedAt, &o.LastAccessedAt}
	err := row.Scan(append(dst, extra...)...)
	o.Metadata = m
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

const (
	insertObjectSQL = `insert into storage.objects (bucket_id, name, owner, owner_id, version, metadata, user_metadata)
		values ($1, $2, nullif($3, '')::uuid, nullif($4, ''), $5, $6::jsonb, $7::jsonb)
		returning ` + objectColumns
	upsertObjectSQL = `insert into storage.objects (bucket_id, name, owner, owner_id, version, metadata, user_metadata)
		values ($1, $2, nullif($3, '')::uuid, nullif($4, ''), $5, $6::jsonb, $7::jsonb)
		on conflict (name, bucket_id) do update set
			owner = excluded.owner, owner_id = excluded.owner_id, version = excluded.version,
			metadata = excluded.metadata, user_metadata = excluded.user_metadata, last_accessed_at = now()
		returning ` + objectColumns
)

func objectArgs(o Object) []any {
	return []any{o.BucketID, o.Name, o.Owner, o.OwnerID, o.Version, jsonArg(o.Metadata), jsonArg(o.UserMetadata)}
}

// InsertObject inserts a new row (a unique violation means the key exists).
func (t Tx) InsertObject(ctx context.Context, o Object) (Object, error) {
	return scanObject(t.tx.QueryRow(ctx, insertObjectSQL, objectArgs(o)...))
}

// UpsertObject inserts or overwrites the row of bucket/name, keeping its id, as the
// reference's `insert … on conflict (name, bucket_id) do update` does.
func (t Tx) UpsertObject(ctx context.Context, o Object) (Object, error) {
	return scanObject(t.tx.QueryRow(ctx, upsertObjectSQL, objectArgs(o)...))
}

// ReserveWrite records a write intent for key and then, as caller, runs the insert (or
// upsert) of probe and undoes it, so RLS and the unique index judge the write before any
// byte is stored. It runs in a transaction of the service scope and costs one round trip:
// the statements go as a pipeline, and a probe that fails takes the intent down with the
// transaction. The caller's settings stay in force until the transaction ends.
func (t Tx) ReserveWrite(ctx context.Context, caller Scope, probe Object, upsert bool, key string, expires time.Time) error {
	insert := insertObjectSQL
	if upsert {
		insert = upsertObjectSQL
	}
	b := &pgx.Batch{}
	if key != "" { // "": bytes that commit with the row record no intent (Reservation.Key)
		b.Queue(addIntentSQL, key, IntentWrite, expires)
	}
	b.Queue(setScope, anyArgs(t.db.scopeValues(caller))...)
	b.Queue(`savepoint reserve_write`)
	b.Queue(insert, objectArgs(probe)...)
	b.Queue(`rollback to savepoint reserve_write`)
	return Classify(t.tx.SendBatch(ctx, b).Close())
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

// Listed is the part of an object row a listing page shows, with the system metadata's
// keys extracted by Postgres instead of the whole document sent and decoded per row.
type Listed struct {
	Name, OwnerID string
	UpdatedAt     time.Time
	// Size, ETag, LastModified and ChecksumAlgorithm are the metadata document's "size",
	// "eTag", "lastModified" and "checksumAlgorithm" as text ("" when absent).
	Size, ETag, LastModified, ChecksumAlgorithm string
}

// ListEntries is ListObjects for a listing page: the same range scan, returning Listed rows.
func (t Tx) ListEntries(ctx context.Context, bucket, prefix, after, from string, limit int) ([]Listed, error) {
	const q = `select ` + listedColumns + `
		from storage.objects
		where bucket_id = $1 and name collate "C" > $2 and name collate "C" >= $3
		  and ($4 = '' or name collate "C" < $4)
		order by name collate "C" limit $5`
	if from < prefix {
		from = prefix
	}
	rows, err := t.tx.Query(ctx, q, bucket, after, from, PrefixUpperBound(prefix), limit)
	return collectListed(rows, err, limit)
}

// listedColumns are a Listed row's, in collectListed's order (named, so the walk's CTE can
// carry them).
const listedColumns = `name, coalesce(owner_id, '') as owner_id, coalesce(updated_at, now()) as updated_at,
	coalesce(metadata->>'size', '') as size, coalesce(metadata->>'eTag', '') as etag,
	coalesce(metadata->>'lastModified', '') as lm, coalesce(metadata->>'checksumAlgorithm', '') as ca`

// collectListed reads the Listed rows of a listing query (up to limit of them).
func collectListed(rows pgx.Rows, err error, limit int) ([]Listed, error) {
	if err != nil {
		return nil, Classify(err)
	}
	defer rows.Close()
	out := make([]Listed, 0, min(limit, 1024))
	for rows.Next() {
		var l Listed
		if err := rows.Scan(&l.Name, &l.OwnerID, &l.UpdatedAt, &l.Size, &l.ETag, &l.LastModified, &l.ChecksumAlgorithm); err != nil {
			return nil, Classify(err)
		}
		out = append(out, l)
	}
	return out, Classify(rows.Err())
}

// ListWalk is ListEntries that jumps past every common prefix inside Postgres: each row it
// returns is the first name after the previous one, or, when the previous one's name holds
// delim after prefix, the first name past that common prefix (the names under it are not
// read). One statement per page of folders instead of one per folder. The walk stops early
// (fewer than limit rows) at the end of the range, or after a common prefix whose last
// character is U+10FFFF (its upper bound is PrefixUpperBound's, computed by the caller).
func (t Tx) ListWalk(ctx context.Context, bucket, prefix, delim, after, from string, limit int) ([]Listed, error) {
	// cp: the name up to and including the first delim after prefix (by characters: the
	// same string strings.Index finds by bytes); up: the smallest string past every name
	// under cp, cp's last character plus one (code point order is byte order in UTF-8;
	// the surrogates are skipped).
	const q = `with recursive walk as (
		  select 1 as n, f.*, c.cp from (
		    select ` + listedColumns + ` from storage.objects
		    where bucket_id = $1 and name collate "C" > $2 and name collate "C" >= $3
		      and ($4 = '' or name collate "C" < $4)
		    order by name collate "C" limit 1) f
		  cross join lateral (select case when position($5 in substr(f.name, $6::int + 1)) > 0
		    then left(f.name, $6::int + position($5 in substr(f.name, $6::int + 1)) - 1 + $7::int) end as cp) c
		  union all
		  select w.n + 1, o.*, c.cp from walk w
		  cross join lateral (select case
		      when w.cp is null then w.name
		      when ascii(right(w.cp, 1)) = 1114111 then null
		      else left(w.cp, -1) || chr(case ascii(right(w.cp, 1)) when 55295 then 57344
		        else ascii(right(w.cp, 1)) + 1 end) end as bound) b
		  cross join lateral (
		    select ` + listedColumns + ` from storage.objects
		    where bucket_id = $1 and name collate "C" >= b.bound and name collate "C" > w.name
		      and ($4 = '' or name collate "C" < $4)
		    order by name collate "C" limit 1) o
		  cross join lateral (select case when position($5 in substr(o.name, $6::int + 1)) > 0
		    then left(o.name, $6::int + position($5 in substr(o.name, $6::int + 1)) - 1 + $7::int) end as cp) c
		  where w.n < $8::int and b.bound is not null
		)
		select name, owner_id, updated_at, size, etag, lm, ca from walk order by n`
	if from < prefix {
		from = prefix
	}
	rows, err := t.tx.Query(ctx, q, bucket, after, from, PrefixUpperBound(prefix), delim,
		utf8.RuneCountInString(prefix), utf8.RuneCountInString(delim), limit)
	return collectListed(rows, err, limit)
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

// SmallBlobRead asks an object read for the object's bytes kept in stowage.small_blobs
// (gateway/inline) in the same statement, so a small GET needs no second round
// trip. The blob key is Prefix followed by the row's version. Only a scope whose role may
// read stowage.small_blobs (the service role) may ask.
type SmallBlobRead struct {
	Prefix string
	// Buffer, when its capacity holds the bytes, receives them (Data is then a slice of it):
	// no allocation per read.
	Buffer []byte
	// Data is what the read found: nil when the row has no bytes kept there (or there was
	// no row); Version is the version of the row they belong to.
	Data    []byte
	Version string
}

// ScanBytes (pgtype.BytesScanner) copies the bytes out of the driver's buffer while the row
// is scanned, into Buffer when it is large enough.
func (b *SmallBlobRead) ScanBytes(v []byte) error {
	switch {
	case v == nil:
		b.Data = nil
	case b.Buffer != nil && cap(b.Buffer) >= len(v):
		b.Data = b.Buffer[:copy(b.Buffer[:len(v)], v)]
	default:
		b.Data = append(make([]byte, 0, len(v)), v...)
	}
	return nil
}

// objectRead is the select of bucket/name's row, with its small blob's bytes after the
// row's columns when blob asks for them.
func objectRead(b *pgx.Batch, bucket, name string, blob *SmallBlobRead, scan func(o Object, err error)) {
	if blob == nil {
		b.Queue(`select `+objectColumns+` from storage.objects where bucket_id = $1 and name = $2`, bucket, name).
			QueryRow(func(row pgx.Row) error {
				scan(scanObject(row))
				return nil
			})
		return
	}
	// The subquery's version is the row's, named in full so that a column of that name
	// added to small_blobs could not take its place.
	b.Queue(`select `+objectColumns+`, (select data from stowage.small_blobs where key = $3 || coalesce(storage.objects.version, ''))
		from storage.objects where bucket_id = $1 and name = $2`, bucket, name, blob.Prefix).
		QueryRow(func(row pgx.Row) error {
			o, err := scanObject(row, blob)
			if err != nil {
				blob.Data = nil
			}
			if blob.Data != nil {
				blob.Version = o.Version
			}
			scan(o, err)
			return nil
		})
}

// ReadObject is GetObject in a transaction of its own, sent as one pipeline (the scope and
// the select, readPipeline): one round trip instead of three for the most frequent query of
// all (every GET and HEAD).
func (d *DB) ReadObject(ctx context.Context, s Scope, bucket, name string) (Object, error) {
	o, _, err := d.ReadObjectAsking(ctx, s, bucket, name, false, nil)
	return o, err
}

// ReadObjectAsking is ReadObject that, with askBypass, also asks in the same round trip
// whether s.Role bypasses RLS (as BypassesRLS does): bypass is nil when not asked. A
// non-nil blob gets the row's small blob (SmallBlobRead).
func (d *DB) ReadObjectAsking(ctx context.Context, s Scope, bucket, name string, askBypass bool, blob *SmallBlobRead) (o Object, bypass *bool, err error) {
	var scanErr error
	err = d.readPipeline(ctx, s, func(b *pgx.Batch) {
		if askBypass {
			b.Queue(bypassesRLSSQL, s.Role).QueryRow(func(row pgx.Row) error {
				var v bool
				if row.Scan(&v) == nil {
					bypass = &v
				}
				return nil
			})
		}
		objectRead(b, bucket, name, blob, func(row Object, err error) { o, scanErr = row, err })
	})
	if err != nil {
		return Object{}, nil, err
	}
	return o, bypass, scanErr
}

// ObjectAccess is what ReadObjectAccess read: the bucket's row (the service's view) and
// the object's row twice, as the service and as the caller, each with its own error
// (ErrNotFound when that role sees no row), and whether the service's role bypasses RLS
// when asked (BypassKnown).
type ObjectAccess struct {
	Bucket                  Bucket
	BucketErr               error
	AsService, AsCaller     Object
	AsServiceErr, CallerErr error
	ServiceBypassesRLS      bool
	BypassKnown             bool
}

// ReadObjectAccess reads bucket's row as service and name's row as service and, unless
// caller is nil, as caller, in one transaction, one round trip: a REST download whose
// bucket, if public, is read without RLS needs the bucket's settings before it knows which
// row applies, and asking for both rows costs one index lookup instead of a second round
// trip. With askBypass it also asks, as BypassesRLS does, whether the service's role
// bypasses RLS, so a cache of that answer fills at no round trip of its own. A non-nil
// blob gets the small blob of the service's row (SmallBlobRead).
func (d *DB) ReadObjectAccess(ctx context.Context, service Scope, caller *Scope, bucket, name string, askBypass bool, blob *SmallBlobRead) (ObjectAccess, error) {
	var a ObjectAccess
	err := d.readPipelineScoped(ctx, service, caller != nil, func(b *pgx.Batch) {
		b.Queue(`select `+bucketColumns+` from storage.buckets where id = $1`, bucket).
			QueryRow(func(row pgx.Row) error {
				a.Bucket, a.BucketErr = scanBucket(row)
				return nil
			})
		objectRead(b, bucket, name, blob, func(o Object, err error) { a.AsService, a.AsServiceErr = o, err })
		if askBypass {
			b.Queue(bypassesRLSSQL, service.Role).QueryRow(func(row pgx.Row) error {
				a.BypassKnown = row.Scan(&a.ServiceBypassesRLS) == nil
				return nil
			})
		}
		if caller == nil {
			return
		}
		b.Queue(setScope, anyArgs(d.scopeValues(*caller))...)
		objectRead(b, bucket, name, nil, func(o Object, err error) { a.AsCaller, a.CallerErr = o, err })
	})
	return a, err
}

// LockObject takes the per-object advisory lock (see LockKey), then reads and row-locks
// the object: one round trip. ErrNotFound when there is no row (the lock is held anyway).
func (t Tx) LockObject(ctx context.Context, bucket, name string) (Object, error) {
	var o Object
	var scanErr error
	b := &pgx.Batch{}
	queueLock(b, bucket, name)
	b.Queue(`select `+objectColumns+` from storage.objects where bucket_id = $1 and name = $2 for update`, bucket, name).
		QueryRow(func(row pgx.Row) error {
			o, scanErr = scanObject(row)
			return nil
		})
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return Object{}, Classify(err)
	}
	return o, scanErr
}

// CommitObject upserts o and forgets the write intents of keys: one round trip.
func (t Tx) CommitObject(ctx context.Context, o Object, intentKeys ...string) (Object, error) {
	var out Object
	var scanErr error
	b := &pgx.Batch{}
	b.Queue(upsertObjectSQL, objectArgs(o)...).QueryRow(func(row pgx.Row) error {
		out, scanErr = scanObject(row)
		return nil
	})
	queueForget(b, intentKeys)
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return Object{}, Classify(err)
	}
	return out, scanErr
}

func anyArgs(vals []string) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}
