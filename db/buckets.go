package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bucket is a storage.buckets row.
type Bucket struct {
	ID               string
	Name             string
	Owner            string // uuid text or ""
	OwnerID          string
	Public           bool
	FileSizeLimit    *int64
	AllowedMimeTypes []string
	Type             string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

const bucketColumns = `id, name, coalesce(owner::text, ''), coalesce(owner_id, ''), coalesce(public, false),
	file_size_limit, allowed_mime_types, type::text, coalesce(created_at, now()), coalesce(updated_at, now())`

func scanBucket(row pgx.Row) (Bucket, error) {
	var b Bucket
	err := row.Scan(&b.ID, &b.Name, &b.Owner, &b.OwnerID, &b.Public, &b.FileSizeLimit, &b.AllowedMimeTypes, &b.Type, &b.CreatedAt, &b.UpdatedAt)
	return b, Classify(err)
}

// InsertBucket creates a bucket row.
func (t Tx) InsertBucket(ctx context.Context, b Bucket) (Bucket, error) {
	const q = `insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types)
		values ($1, $2, nullif($3, '')::uuid, nullif($4, ''), $5, $6, $7)
		returning ` + bucketColumns
	return scanBucket(t.tx.QueryRow(ctx, q, b.ID, b.Name, b.Owner, b.OwnerID, b.Public, b.FileSizeLimit, nilIfEmpty(b.AllowedMimeTypes)))
}

// GetBucket reads one bucket visible to the scope.
func (t Tx) GetBucket(ctx context.Context, id string) (Bucket, error) {
	return scanBucket(t.tx.QueryRow(ctx, `select `+bucketColumns+` from storage.buckets where id = $1`, id))
}

// ListBucketsOptions page and order a bucket listing.
type ListBucketsOptions struct {
	Limit, Offset int
	Search        string
	SortColumn    string // id, name, created_at, updated_at
	Descending    bool
}

// ListBuckets lists buckets visible to the scope.
func (t Tx) ListBuckets(ctx context.Context, o ListBucketsOptions) ([]Bucket, error) {
	col := map[string]string{"id": "id", "name": "name", "created_at": "created_at", "updated_at": "updated_at"}[o.SortColumn]
	if col == "" {
		col = "name"
	}
	dir := "asc"
	if o.Descending {
		dir = "desc"
	}
	limit := any(nil)
	if o.Limit > 0 {
		limit = o.Limit
	}
	q := fmt.Sprintf(`select %s from storage.buckets
		where type = 'STANDARD' and ($1 = '' or name ilike '%%' || replace(replace(replace($1, '\', '\\'), '%%', '\%%'), '_', '\_') || '%%')
		order by %s %s, id limit $2 offset $3`, bucketColumns, pgx.Identifier{col}.Sanitize(), dir)
	rows, err := t.tx.Query(ctx, q, o.Search, limit, o.Offset)
	if err != nil {
		return nil, Classify(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Bucket, error) { return scanBucket(r) })
}

// BucketUpdate carries the fields to change; a nil pointer leaves the column alone.
type BucketUpdate struct {
	Public           *bool
	FileSizeLimit    **int64 // set to a nil *int64 to clear the limit
	AllowedMimeTypes *[]string
}

// UpdateBucket changes a bucket and returns ErrNotFound when no visible row matched.
func (t Tx) UpdateBucket(ctx context.Context, id string, u BucketUpdate) (Bucket, error) {
	const q = `update storage.buckets set
		public = case when $2 then $3 else public end,
		file_size_limit = case when $4 then $5 else file_size_limit end,
		allowed_mime_types = case when $6 then $7 else allowed_mime_types end,
		updated_at = now()
		where id = $1 returning ` + bucketColumns
	var pub bool
	var limit *int64
	var mimes []string
	if u.Public != nil {
		pub = *u.Public
	}
	if u.FileSizeLimit != nil {
		limit = *u.FileSizeLimit
	}
	if u.AllowedMimeTypes != nil {
		mimes = nilIfEmpty(*u.AllowedMimeTypes)
	}
	return scanBucket(t.tx.QueryRow(ctx, q, id, u.Public != nil, pub, u.FileSizeLimit != nil, limit, u.AllowedMimeTypes != nil, mimes))
}

// DeleteBucket removes a bucket row; ErrNotFound when none was visible.
func (t Tx) DeleteBucket(ctx context.Context, id string) error {
	tag, err := t.tx.Exec(ctx, `delete from storage.buckets where id = $1`, id)
	if err != nil {
		return Classify(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// LockBucket takes bucket id's row lock (FOR UPDATE) for the rest of the transaction;
// ErrNotFound when the row is not visible. FOR UPDATE conflicts with the KEY SHARE lock the
// foreign keys of objects, uploads and parts take on it: once held, no row can be added to
// the bucket, and every transaction that was adding one has ended, so what the caller
// reads next is the bucket's final content.
func (t Tx) LockBucket(ctx context.Context, id string) error {
	var one int
	err := t.tx.QueryRow(ctx, `select 1 from storage.buckets where id = $1 for update`, id).Scan(&one)
	return Classify(err)
}

// BucketHasObjects reports whether any object is in the bucket.
func (t Tx) BucketHasObjects(ctx context.Context, id string) (bool, error) {
	var has bool
	err := t.tx.QueryRow(ctx, `select exists(select 1 from storage.objects where bucket_id = $1)`, id).Scan(&has)
	return has, Classify(err)
}

// BucketPage pages bucket names in byte order: names after After (exclusive) that start
// with Prefix (a byte prefix, not a pattern), at most Limit of them.
type BucketPage struct {
	After, Prefix string
	Limit         int
}

// ListBucketsByName lists buckets visible to the scope in byte order of their names
// (S3's order), as p selects.
func (t Tx) ListBucketsByName(ctx context.Context, p BucketPage) ([]Bucket, error) {
	q := `select ` + bucketColumns + ` from storage.buckets
		where type = 'STANDARD' and name collate "C" > $1 and starts_with(name, $2)
		order by name collate "C", id limit $3`
	rows, err := t.tx.Query(ctx, q, p.After, p.Prefix, p.Limit)
	if err != nil {
		return nil, Classify(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Bucket, error) { return scanBucket(r) })
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
