package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The consistency check (gateway.Engine.Fsck) reads every row that names a store key, in
// the byte order of those keys, one bounded page per short transaction: no statement runs
// long and nothing is held whole. Keys are built the way the engine builds them:
// objects <tenant>/<bucket>/<name>/<version>, parts of uploads on stores without their own
// multipart uploads <object key>.parts/<n>-<part id>, resumable-upload tails (tail_key) and
// intents (key) as recorded. For a store that keeps keys with empty segments folded
// ("a//b" as "a/b", the file store), Fold asks for the folded form, in SQL as in Go.

// FsckRef kinds: what names a key besides an object row.
const (
	RefPart         = "part"
	RefTail         = "tail"
	RefWriteIntent  = "intent-write"
	RefDeleteIntent = "intent-delete"
)

// FsckRef is a row naming a store key that is not an object row.
type FsckRef struct {
	Key     string
	Kind    string    // RefPart, RefTail, RefWriteIntent, RefDeleteIntent
	Expires time.Time // intents: expires_at; zero otherwise
}

// FsckObject is an object row as the check reads it.
type FsckObject struct {
	Name, Version string
}

// foldSQL wraps a key expression so it yields the folded key: runs of "/" become one, a
// trailing "/" goes (keys never start with "/": the tenant comes first).
func foldSQL(expr string, fold bool) string {
	if !fold {
		return expr
	}
	return "rtrim(regexp_replace(" + expr + ", '/{2,}', '/', 'g'), '/')"
}

// oddName matches names whose keys fold differently: an empty segment anywhere.
const oddName = `(^/|//|/$)`

// FsckBuckets returns up to limit bucket ids whose "<id>/" sorts after after, in that
// order (the order of their keys in a store: "b-1/" before "b/").
func (t Tx) FsckBuckets(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := t.tx.Query(ctx, `select id from storage.buckets where (id || '/') collate "C" > $1
		order by (id || '/') collate "C" limit $2`, after, limit)
	if err != nil {
		return nil, Classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, Classify(err)
}

// FsckObjects returns up to limit objects of bucket named after after, in byte order of
// name (the index idx_objects_bucket_id_name). With skipOdd, names with empty segments are
// left out (FsckOddObjects reads them).
func (t Tx) FsckObjects(ctx context.Context, bucket, after string, skipOdd bool, limit int) ([]FsckObject, error) {
	rows, err := t.tx.Query(ctx, `select name, coalesce(version, '') from storage.objects
		where bucket_id = $1 and name collate "C" > $2 and not ($3::bool and name ~ '`+oddName+`')
		order by name collate "C" limit $4`, bucket, after, skipOdd, limit)
	return collectFsckObjects(rows, err)
}

// FsckObjectsNamed returns the objects of bucket whose names are among names.
func (t Tx) FsckObjectsNamed(ctx context.Context, bucket string, names []string, skipOdd bool) ([]FsckObject, error) {
	rows, err := t.tx.Query(ctx, `select name, coalesce(version, '') from storage.objects
		where bucket_id = $1 and name = any($2) and not ($3::bool and name ~ '`+oddName+`')`, bucket, names, skipOdd)
	return collectFsckObjects(rows, err)
}

func collectFsckObjects(rows pgx.Rows, err error) ([]FsckObject, error) {
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FsckObject, error) {
		var o FsckObject
		return o, r.Scan(&o.Name, &o.Version)
	})
	return out, Classify(err)
}

// FsckOddObjects returns up to limit folded keys, after after, of the objects of bucket
// whose names have empty segments, in byte order of the folded key; prefix is
// "<tenant>/<bucket>/". It scans the bucket's rows (no index orders folded keys); such
// names are rare, so one page usually holds them all.
func (t Tx) FsckOddObjects(ctx context.Context, prefix, bucket, after string, limit int) ([]string, error) {
	q := `select k from (select ` + foldSQL(`$1 || name || '/' || coalesce(version, '')`, true) + ` as k
		from storage.objects where bucket_id = $2 and name ~ '` + oddName + `') s
		where k collate "C" > $3 order by k collate "C" limit $4`
	rows, err := t.tx.Query(ctx, q, prefix, bucket, after, limit)
	if err != nil {
		return nil, Classify(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return keys, Classify(err)
}

// fsckRefsSQL is every non-object row naming a key: intents, resumable-upload tails and
// (with $2) the part blobs of uploads. %s is foldSQL's wrapper for each key expression.
const fsckRefsSQL = `select k, kind, expires from (
	select %s as k, case kind when 'write' then 'intent-write' else 'intent-delete' end as kind, expires_at as expires
		from stowage.blob_intents
	union all
	select %s, 'tail', null from stowage.tus_uploads where coalesce(tail_key, '') <> ''
	union all
	select %s, 'part', null
		from storage.s3_multipart_uploads_parts p join storage.s3_multipart_uploads u on u.id = p.upload_id
		where $2::bool
) r where starts_with(k, $3) and (k collate "C" > $4 or (k = $4 and kind > $5))
order by k collate "C", kind limit $6`

// partKeySQL builds a part blob's key as gateway's partKey does; $1 is the tenant.
const partKeySQL = `$1 || '/' || u.bucket_id || '/' || u.key || '/' || u.version || '.parts/' || p.part_number || '-' || p.id::text`

// FsckRefs returns up to limit non-object rows naming keys that start with prefix and sort
// after (afterKey, afterKind), in byte order of key (then kind). parts includes the part
// blobs of uploads (stores without their own multipart uploads); tenant builds their keys.
func (t Tx) FsckRefs(ctx context.Context, tenant string, fold, parts bool, prefix, afterKey, afterKind string, limit int) ([]FsckRef, error) {
	q := fmt.Sprintf(fsckRefsSQL, foldSQL("key", fold), foldSQL("tail_key", fold), foldSQL(partKeySQL, fold))
	rows, err := t.tx.Query(ctx, q, tenant, parts, prefix, afterKey, afterKind, limit)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FsckRef, error) {
		var ref FsckRef
		var exp *time.Time
		if err := r.Scan(&ref.Key, &ref.Kind, &exp); err != nil {
			return ref, err
		}
		if exp != nil {
			ref.Expires = *exp
		}
		return ref, nil
	})
	return out, Classify(err)
}

// FsckCandidate is a store key the check found no row for, split the way an object key
// would be (bucket, name, version: the last segment); keys that are not object keys simply
// match no object.
type FsckCandidate struct {
	Key, Bucket, Name, Version string
}

// fsckReferencedSQL keeps the candidates that some row names now: an intent, a tail, a
// part, an object (by bucket, name and version; a version-less object whose name is the
// whole rest of the key; with folding, an object with empty segments in its name and the
// same version: those are found by one scan of the candidates' buckets per call, not one
// per candidate, as no index orders folded names).
const fsckReferencedSQL = `with odd as materialized (
		select ` + "%s" + ` as k from storage.objects
		where $7::bool and bucket_id = any($3) and coalesce(version, '') = any($5) and name ~ '` + oddName + `')
	select c.k from unnest($2::text[], $3::text[], $4::text[], $5::text[]) as c(k, bucket, name, version)
	where exists (select 1 from stowage.blob_intents where %s = c.k)
	or exists (select 1 from stowage.tus_uploads where %s = c.k)
	or ($6::bool and exists (select 1 from storage.s3_multipart_uploads_parts p
		join storage.s3_multipart_uploads u on u.id = p.upload_id where %s = c.k))
	or exists (select 1 from storage.objects o where o.bucket_id = c.bucket and o.name = c.name
		and coalesce(o.version, '') = c.version)
	or exists (select 1 from storage.objects o where o.bucket_id = c.bucket and o.name = c.name || '/' || c.version
		and coalesce(o.version, '') = '')
	or exists (select 1 from odd where odd.k = c.k)`

// FsckReferenced returns the candidates' keys that a row names at the time of the query.
func (t Tx) FsckReferenced(ctx context.Context, tenant string, fold, parts bool, cands []FsckCandidate) (map[string]bool, error) {
	var keys, buckets, names, versions []string
	for _, c := range cands {
		keys, buckets, names, versions = append(keys, c.Key), append(buckets, c.Bucket), append(names, c.Name), append(versions, c.Version)
	}
	q := fmt.Sprintf(fsckReferencedSQL, foldSQL(`$1 || '/' || bucket_id || '/' || name || '/' || coalesce(version, '')`, true),
		foldSQL("key", fold), foldSQL("tail_key", fold), foldSQL(partKeySQL, fold))
	rows, err := t.tx.Query(ctx, q, tenant, keys, buckets, names, versions, parts, fold)
	if err != nil {
		return nil, Classify(err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, Classify(err)
	}
	out := make(map[string]bool, len(found))
	for _, k := range found {
		out[k] = true
	}
	return out, nil
}

// ClaimOrphans records delete intents (due now) for keys, skipping keys that already have
// an intent, and returns the keys it recorded: those are the caller's to delete, and if it
// dies first the intent sweep deletes them.
func (t Tx) ClaimOrphans(ctx context.Context, keys []string, now time.Time) ([]string, error) {
	rows, err := t.tx.Query(ctx, `insert into stowage.blob_intents (key, kind, expires_at)
		select k, 'delete', $2 from unnest($1::text[]) k on conflict (key) do nothing returning key`, keys, now)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, Classify(err)
}

// ExpiredUpload is a multipart or resumable upload past its expiry.
type ExpiredUpload struct {
	ID, BucketID, Key string
	Resumable         bool
	Since             time.Time // created (multipart) or expired (resumable)
}

// FsckExpiredUploads returns up to limit uploads of bucket ("" any) after afterID that are
// past expiry: multipart uploads (not resumable ones) created before createdBefore, and
// unfinished resumable uploads whose expires_at is before now.
func (t Tx) FsckExpiredUploads(ctx context.Context, bucket string, createdBefore, now time.Time, afterID string, limit int) ([]ExpiredUpload, error) {
	rows, err := t.tx.Query(ctx, `select id, bucket_id, key, resumable, since from (
		select u.id, u.bucket_id, u.key::text as key, false as resumable, u.created_at as since
			from storage.s3_multipart_uploads u
			where u.created_at < $2 and not exists (select 1 from stowage.tus_uploads t where t.upload_id = u.id)
		union all
		select 'tus:' || version, bucket_id, name, true, expires_at from stowage.tus_uploads
			where not completed and expires_at < $3
	) x where ($1 = '' or bucket_id = $1) and id collate "C" > $4 order by id collate "C" limit $5`,
		bucket, createdBefore, now, afterID, limit)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ExpiredUpload, error) {
		var u ExpiredUpload
		return u, r.Scan(&u.ID, &u.BucketID, &u.Key, &u.Resumable, &u.Since)
	})
	return out, Classify(err)
}
