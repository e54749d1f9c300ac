package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/stowage/stowage/db"
)

// Listing limits of the REST dialect (rest-api.md §5).
const (
	DefaultFolderLimit = 100
	MaxFolderLimit     = 1500
	MaxListV2Limit     = 1000
)

// Entry is one item of a folder listing: an object, or a folder (Folder true, no ID, no
// metadata).
type Entry struct {
	// Key is the last path segment (list v2 delimiter mode only).
	Key    string
	Name   string
	Folder bool
	ID     string
	// Times are nil for folders except in timestamp-sorted list v2 pages.
	UpdatedAt, CreatedAt, LastAccessedAt *time.Time
	// Metadata is the system metadata document of an object.
	Metadata json.RawMessage
}

func entryFromRow(r db.SearchRow) Entry {
	return Entry{Key: r.Key, Name: r.Name, Folder: r.ID == "", ID: r.ID, UpdatedAt: r.UpdatedAt,
		CreatedAt: r.CreatedAt, LastAccessedAt: r.LastAccessedAt, Metadata: r.Metadata}
}

// ListFolder is the input of Engine.ListFolder (REST list v1).
type ListFolder struct {
	Bucket string
	// Prefix is the folder; a non-empty prefix without a trailing "/" gets one.
	Prefix string
	// Search is a case-insensitive prefix filter on the entry names within the folder.
	Search        string
	Limit, Offset int
	// SortColumn is name, updated_at, created_at or last_accessed_at.
	SortColumn string
	Desc       bool
}

// ListFolder lists one folder level through storage.search, as the caller (RLS SELECT
// hides rows). Entry names are relative to the prefix; a missing bucket lists nothing.
func (e *Engine) ListFolder(ctx context.Context, c Caller, in ListFolder) ([]Entry, error) {
	if err := ValidateBucketName(in.Bucket); err != nil {
		return nil, err
	}
	if in.Prefix != "" && !strings.HasSuffix(in.Prefix, "/") {
		in.Prefix += "/"
	}
	if in.Limit <= 0 {
		in.Limit = DefaultFolderLimit
	}
	in.Limit = min(in.Limit, MaxFolderLimit)
	in.Offset = max(in.Offset, 0)
	if in.SortColumn == "" {
		in.SortColumn = "name"
	}
	var rows []db.SearchRow
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		rows, err = tx.Search(ctx, in.Bucket, db.SearchOptions{Prefix: in.Prefix, Search: in.Search, Limit: in.Limit,
			Offset: in.Offset, SortColumn: in.SortColumn, Order: order(in.Desc)})
		return err
	})
	if err != nil {
		return nil, dbErr(err, CodeNoSuchBucket, in.Bucket, "")
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = entryFromRow(r)
	}
	return out, nil
}

func order(desc bool) string {
	if desc {
		return "desc"
	}
	return "asc"
}

// ListV2 is the input of Engine.ListV2 (REST list v2).
type ListV2 struct {
	Bucket string
	// Prefix is matched literally and byte-wise; it need not end with "/".
	Prefix string
	Limit  int
	// Delimiter groups by "/" (immediate children only); false lists recursively.
	Delimiter bool
	// SortColumn is name, created_at or updated_at.
	SortColumn string
	Desc       bool
	// StartAfter and SortAfter continue after the previous page's last item.
	StartAfter string
	SortAfter  *time.Time
}

// ListV2Result is one page of a list v2 listing.
type ListV2Result struct {
	Folders, Objects []Entry
	HasNext          bool
	// NextStartAfter and NextSortAfter continue the listing when HasNext.
	NextStartAfter string
	NextSortAfter  *time.Time
}

// ListV2 pages a listing with keyset pagination: storage.search_v2 in delimiter mode, a
// range scan otherwise. It runs as the caller (RLS SELECT).
func (e *Engine) ListV2(ctx context.Context, c Caller, in ListV2) (ListV2Result, error) {
	if err := ValidateBucketName(in.Bucket); err != nil {
		return ListV2Result{}, err
	}
	if in.Limit <= 0 || in.Limit > MaxListV2Limit {
		in.Limit = MaxListV2Limit
	}
	if in.SortColumn != "created_at" && in.SortColumn != "updated_at" {
		in.SortColumn = "name"
	}
	var entries []Entry
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		entries, err = listV2Rows(ctx, tx, in)
		return err
	})
	if err != nil {
		return ListV2Result{}, dbErr(err, CodeNoSuchBucket, in.Bucket, "")
	}
	var res ListV2Result
	if len(entries) > in.Limit {
		entries, res.HasNext = entries[:in.Limit], true
	}
	for _, en := range entries {
		if en.Folder {
			res.Folders = append(res.Folders, en)
		} else {
			res.Objects = append(res.Objects, en)
		}
	}
	if res.HasNext {
		last := entries[len(entries)-1]
		res.NextStartAfter = last.Name
		if in.SortColumn != "name" {
			t := last.UpdatedAt
			if in.SortColumn == "created_at" {
				t = last.CreatedAt
			}
			if t != nil {
				ms := t.UTC().Truncate(time.Millisecond)
				res.NextSortAfter = &ms
			}
		}
	}
	return res, nil
}

// listV2Rows reads one more entry than the page holds, to learn whether another follows.
func listV2Rows(ctx context.Context, tx db.Tx, in ListV2) ([]Entry, error) {
	if !in.Delimiter {
		rows, err := tx.ListFlat(ctx, in.Bucket, db.FlatOptions{Prefix: in.Prefix, SortColumn: in.SortColumn, Desc: in.Desc,
			AfterName: in.StartAfter, AfterTime: in.SortAfter, Limit: in.Limit + 1})
		if err != nil {
			return nil, err
		}
		out := make([]Entry, len(rows))
		for i, r := range rows {
			ua, ca, la := r.UpdatedAt, r.CreatedAt, r.LastAccessedAt
			out[i] = Entry{Name: r.Name, ID: r.ID, UpdatedAt: &ua, CreatedAt: &ca, LastAccessedAt: &la, Metadata: r.Metadata}
		}
		return out, nil
	}
	after := ""
	startAfter := in.StartAfter
	if in.SortAfter != nil {
		after = in.SortAfter.UTC().Format(isoMillis)
	}
	if in.SortColumn != "name" {
		// Deviation: the cursor names a folder with its "/", as the reference's does, but
		// search_v2's timestamp sort compares folder names without it: "dir/" would skip
		// every entry of the same millisecond sorting between "dir" and "dir/" ("dir-a").
		startAfter = strings.TrimSuffix(startAfter, "/")
	}
	rows, err := tx.SearchV2(ctx, in.Bucket, db.SearchV2Options{Prefix: in.Prefix, Limit: in.Limit + 1,
		Levels: strings.Count(in.Prefix, "/") + 1, StartAfter: startAfter, Order: order(in.Desc),
		SortColumn: in.SortColumn, SortAfter: after})
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = entryFromRow(r)
		if out[i].Folder {
			out[i].Name += "/"
		}
	}
	return out, nil
}

// MaxFindKeys bounds one FindObjects call (the reference signs at most 1000 paths).
const MaxFindKeys = 1000

// FindObjects returns the objects among keys that exist and are visible to the caller
// (RLS SELECT); the others are simply absent.
func (e *Engine) FindObjects(ctx context.Context, c Caller, bucket string, keys []string) ([]Object, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return nil, err
	}
	if len(keys) > MaxFindKeys {
		return nil, &Error{Code: CodeInvalidArgument, Bucket: bucket, Message: "at most 1000 paths may be given"}
	}
	var rows []db.Object
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		rows, err = tx.GetObjects(ctx, bucket, keys)
		return err
	})
	if err != nil {
		return nil, dbErr(err, CodeNoSuchBucket, bucket, "")
	}
	out := make([]Object, len(rows))
	for i, r := range rows {
		out[i] = objectFromRow(r)
	}
	return out, nil
}

// UploadCheck is the input of Engine.CheckUpload.
type UploadCheck struct {
	Bucket, Key  string
	ContentType  string
	Size         int64
	UserMetadata json.RawMessage
	Upsert       bool
}

// CheckUpload runs every check an upload would run before its body (bucket, mime type,
// size, key, and the RLS/duplicate pre-flight) without storing anything: creating a
// signed upload URL verifies the caller's permission now, as the reference does.
func (e *Engine) CheckUpload(ctx context.Context, c Caller, in UploadCheck) error {
	if err := checkObjectMetadata(objectMetadata{contentType: in.ContentType, user: in.UserMetadata}); err != nil {
		return withObject(err, in.Bucket, in.Key)
	}
	if _, err := e.PrepareUpload(ctx, c, in.Bucket, in.Key, in.ContentType, in.Size, 0); err != nil {
		return err
	}
	mime := in.ContentType
	if mime == "" {
		mime = DefaultContentType
	}
	return e.preflight(ctx, c, in.Bucket, in.Key, mime, in.Size, in.UserMetadata, in.Upsert)
}
