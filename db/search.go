package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SearchRow is one entry of a folder listing: an object, or a folder (ID "", nil times and
// metadata).
type SearchRow struct {
	Key            string // last path segment (search_v2 only)
	Name           string
	ID             string
	UpdatedAt      *time.Time
	CreatedAt      *time.Time
	LastAccessedAt *time.Time
	Metadata       json.RawMessage
}

func scanSearchRows(rows pgx.Rows, err error, withKey bool) ([]SearchRow, error) {
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SearchRow, error) {
		var s SearchRow
		var id *string
		var key *string
		var meta []byte
		dest := []any{&s.Name, &id, &s.UpdatedAt, &s.CreatedAt, &s.LastAccessedAt, &meta}
		if withKey {
			dest = append([]any{&key}, dest...)
		}
		if err := r.Scan(dest...); err != nil {
			return s, err
		}
		if id != nil {
			s.ID = *id
		}
		if key != nil {
			s.Key = *key
		}
		if meta != nil {
			s.Metadata = meta
		}
		return s, nil
	})
	return out, Classify(err)
}

// SearchOptions are the arguments of storage.search (REST list v1).
type SearchOptions struct {
	Prefix, Search    string
	Limit, Offset     int
	SortColumn, Order string
}

// Search runs storage.search: one folder level, names relative to the prefix, offset
// pagination (rest-api.md §5.1). RLS on storage.objects filters the rows.
func (t Tx) Search(ctx context.Context, bucket string, o SearchOptions) ([]SearchRow, error) {
	const q = `select name, id::text, updated_at, created_at, last_accessed_at, metadata
		from storage.search($1, $2, $3, 1, $4, $5, $6, $7)`
	rows, err := t.tx.Query(ctx, q, o.Prefix, bucket, o.Limit, o.Offset, o.Search, o.SortColumn, o.Order)
	return scanSearchRows(rows, err, false)
}

// SearchV2Options are the arguments of storage.search_v2 (REST list v2, delimiter mode).
type SearchV2Options struct {
	Prefix            string
	Limit, Levels     int
	StartAfter        string
	Order, SortColumn string
	SortAfter         string // ISO timestamp of the last item's sort column ("" for none)
}

// SearchV2 runs storage.search_v2: immediate children of the prefix, folders collapsed,
// keyset pagination after StartAfter (and SortAfter for timestamp sorts).
func (t Tx) SearchV2(ctx context.Context, bucket string, o SearchV2Options) ([]SearchRow, error) {
	const q = `select key, name, id::text, updated_at, created_at, last_accessed_at, metadata
		from storage.search_v2($1, $2, $3, $4, $5, $6, $7, $8)`
	rows, err := t.tx.Query(ctx, q, o.Prefix, bucket, o.Limit, o.Levels, o.StartAfter, o.Order, o.SortColumn, o.SortAfter)
	return scanSearchRows(rows, err, true)
}

// FlatOptions page a recursive listing (REST list v2 without delimiter).
type FlatOptions struct {
	Prefix     string
	SortColumn string // name, created_at or updated_at
	Desc       bool
	// AfterName (and AfterTime for timestamp sorts) name the last item of the previous
	// page; the page starts strictly after it in the sort order.
	AfterName string
	AfterTime *time.Time
	Limit     int
}

// ListFlat lists every object whose name starts with Prefix (byte-wise), ordered by
// (sort column truncated to ms, name) or by name in "C" order.
func (t Tx) ListFlat(ctx context.Context, bucket string, o FlatOptions) ([]Object, error) {
	dir, cmp := "asc", ">"
	if o.Desc {
		dir, cmp = "desc", "<"
	}
	paged := o.AfterName != "" || o.AfterTime != nil
	args := []any{bucket, o.Prefix, PrefixUpperBound(o.Prefix), o.Limit, paged, o.AfterName}
	var order, after string
	switch o.SortColumn {
	case "created_at", "updated_at":
		col := pgx.Identifier{o.SortColumn}.Sanitize()
		order = fmt.Sprintf(`date_trunc('milliseconds', %[1]s) %[2]s, name collate "C" %[2]s`, col, dir)
		after = fmt.Sprintf(`(not $5 or (date_trunc('milliseconds', %s), name collate "C") %s ($7::timestamptz, $6 collate "C"))`, col, cmp)
		var at time.Time
		if o.AfterTime != nil {
			at = *o.AfterTime
		}
		args = append(args, at)
	default:
		order = `name collate "C" ` + dir
		after = fmt.Sprintf(`(not $5 or name collate "C" %s $6)`, cmp)
	}
	q := `select ` + objectColumns + ` from storage.objects
		where bucket_id = $1 and name collate "C" >= $2 and ($3 = '' or name collate "C" < $3) and ` + after + `
		order by ` + order + ` limit $4`
	return collectObjects(t.tx.Query(ctx, q, args...))
}

// GetObjects reads the visible rows among names.
func (t Tx) GetObjects(ctx context.Context, bucket string, names []string) ([]Object, error) {
	return collectObjects(t.tx.Query(ctx, `select `+objectColumns+` from storage.objects where bucket_id = $1 and name = any($2)`, bucket, names))
}

// CountObjects counts a bucket's objects, stopping at upTo (so a huge bucket costs at most
// upTo index entries).
func (t Tx) CountObjects(ctx context.Context, bucket string, upTo int) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `select count(*) from (select 1 from storage.objects where bucket_id = $1 limit $2) s`, bucket, upTo).Scan(&n)
	return n, Classify(err)
}
