package gateway

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
)

// Bucket is a bucket's settings.
type Bucket struct {
	ID               string
	Name             string
	Owner            string
	OwnerID          string
	Public           bool
	FileSizeLimit    int64 // NoLimit when unset
	AllowedMimeTypes []string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

func bucketFromRow(b db.Bucket) Bucket {
	out := Bucket{ID: b.ID, Name: b.Name, Owner: b.Owner, OwnerID: b.OwnerID, Public: b.Public,
		FileSizeLimit: NoLimit, AllowedMimeTypes: b.AllowedMimeTypes, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
	if b.FileSizeLimit != nil {
		out.FileSizeLimit = *b.FileSizeLimit
	}
	return out
}

// CreateBucket is the input of Engine.CreateBucket.
type CreateBucket struct {
	ID               string
	Name             string // defaults to ID
	Public           bool
	FileSizeLimit    int64 // NoLimit for none
	AllowedMimeTypes []string
	// S3Names applies S3's naming rules (ValidS3BucketName) on top of the reference's, and
	// tells a caller who already owns the bucket so (BucketAlreadyOwnedByYou): S3's
	// CreateBucket.
	S3Names bool
}

// Opt is an optional update field.
type Opt[T any] struct {
	Set   bool
	Value T
}

// Some returns a set Opt.
func Some[T any](v T) Opt[T] { return Opt[T]{Set: true, Value: v} }

// UpdateBucket is the input of Engine.UpdateBucket; unset fields keep their value.
type UpdateBucket struct {
	Public           Opt[bool]
	FileSizeLimit    Opt[int64] // NoLimit clears the limit
	AllowedMimeTypes Opt[[]string]
}

// ListBuckets pages a bucket listing.
type ListBuckets struct {
	Limit, Offset int
	Search        string
	SortColumn    string
	Descending    bool
}

func (e *Engine) checkLimit(limit int64) error {
	if limit > e.opts.MaxObjectSize {
		return &Error{Code: CodeTooLarge, Message: "file_size_limit is larger than the global upload limit"}
	}
	if limit < NoLimit {
		return &Error{Code: CodeInvalidArgument, Message: "file_size_limit must not be negative"}
	}
	return nil
}

// ownerColumns returns (owner, owner_id): owner_id is the JWT sub verbatim, owner only when
// it is a UUID (the deprecated uuid column).
func ownerColumns(sub string) (string, string) {
	if _, err := uuid.Parse(sub); err == nil && sub != "" {
		return sub, sub
	}
	return "", sub
}

// CreateBucket creates a bucket; RLS INSERT on storage.buckets decides.
func (e *Engine) CreateBucket(ctx context.Context, c Caller, in CreateBucket) (Bucket, error) {
	if in.Name == "" {
		in.Name = in.ID
	}
	invalid := &Error{Code: CodeInvalidBucketName, Bucket: in.ID, Message: "Bucket name invalid"}
	if !ValidNewBucketName(in.ID) || !ValidNewBucketName(in.Name) {
		return Bucket{}, invalid
	}
	if in.S3Names && (!ValidS3BucketName(in.ID) || !ValidS3BucketName(in.Name)) {
		// S3's rules are for new buckets: one the REST API created under the reference's
		// rules exists, and is answered as such.
		if _, err := e.bucketAsService(ctx, c, in.ID); err != nil {
			return Bucket{}, invalid
		}
		return Bucket{}, e.bucketExists(ctx, c, in.ID, nil)
	}
	if err := e.checkLimit(in.FileSizeLimit); err != nil {
		return Bucket{}, err
	}
	if err := checkMimeTypes(in.AllowedMimeTypes); err != nil {
		return Bucket{}, err
	}
	owner, ownerID := ownerColumns(c.Sub)
	row := db.Bucket{ID: in.ID, Name: in.Name, Owner: owner, OwnerID: ownerID, Public: in.Public, AllowedMimeTypes: in.AllowedMimeTypes}
	if in.FileSizeLimit != NoLimit {
		row.FileSizeLimit = &in.FileSizeLimit
	}
	var out db.Bucket
	defer e.forgetBucket(in.ID)
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		out, err = tx.InsertBucket(ctx, row)
		if err != nil || !e.opts.Events {
			return err
		}
		return tx.AsRole(ctx, c.scope(), e.service(c), func(stx db.Tx) error {
			return e.emit(ctx, stx, outboxEvent{refType: EventBucketCreated, bucket: out.ID, bucketType: "STANDARD"})
		})
	})
	if err != nil {
		err = dbErr(err, CodeNoSuchBucket, in.ID, "")
		if in.S3Names && CodeOf(err) == CodeBucketAlreadyExists {
			return Bucket{}, e.bucketExists(ctx, c, in.ID, err)
		}
		return Bucket{}, err
	}
	return bucketFromRow(out), nil
}

// bucketExists is S3's answer to creating bucket id, which exists: BucketAlreadyOwnedByYou
// when c owns it, else BucketAlreadyExists (with cause).
func (e *Engine) bucketExists(ctx context.Context, c Caller, id string, cause error) error {
	if e.ownsBucket(ctx, c, id) {
		return &Error{Code: CodeBucketAlreadyOwnedByYou, Bucket: id, Err: cause}
	}
	return &Error{Code: CodeBucketAlreadyExists, Bucket: id, Err: cause}
}

// ownsBucket reports whether c owns bucket id: the service role owns every bucket (S3
// access keys are the project's account), a user the buckets whose owner_id is their sub.
func (e *Engine) ownsBucket(ctx context.Context, c Caller, id string) bool {
	if c.Role == e.opts.Roles.Service {
		return true
	}
	b, err := e.bucketAsService(ctx, c, id)
	return err == nil && c.Sub != "" && b.OwnerID == c.Sub
}

// GetBucket reads a bucket visible to the caller.
func (e *Engine) GetBucket(ctx context.Context, c Caller, id string) (Bucket, error) {
	return e.getBucket(ctx, c.scope(), id)
}

// bucketAsService reads bucket settings without RLS: limits apply whoever uploads, and a
// missing bucket is reported as NoSuchBucket before any policy is consulted.
func (e *Engine) bucketAsService(ctx context.Context, c Caller, id string) (Bucket, error) {
	return e.getBucket(ctx, e.service(c), id)
}

// getBucket reads bucket id in scope.
func (e *Engine) getBucket(ctx context.Context, scope db.Scope, id string) (Bucket, error) {
	if err := ValidateBucketName(id); err != nil {
		return Bucket{}, err
	}
	out, err := e.db.ReadBucket(ctx, scope, id)
	if err != nil {
		return Bucket{}, dbErr(err, CodeNoSuchBucket, id, "")
	}
	return bucketFromRow(out), nil
}

// ListBuckets lists the buckets visible to the caller.
func (e *Engine) ListBuckets(ctx context.Context, c Caller, in ListBuckets) ([]Bucket, error) {
	// A negative offset is a database error (500); the dialects check theirs today, the
	// engine must not depend on it.
	in.Offset = max(in.Offset, 0)
	var rows []db.Bucket
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		rows, err = tx.ListBuckets(ctx, db.ListBucketsOptions{Limit: in.Limit, Offset: in.Offset, Search: in.Search, SortColumn: in.SortColumn, Descending: in.Descending})
		return err
	})
	if err != nil {
		return nil, dbErr(err, CodeNoSuchBucket, "", "")
	}
	out := make([]Bucket, len(rows))
	for i, r := range rows {
		out[i] = bucketFromRow(r)
	}
	return out, nil
}

// MaxListBuckets bounds one page of ListBucketPage (S3's max-buckets).
const MaxListBuckets = 10000

// BucketPage selects a page of buckets in byte order of their names (S3's ListBuckets).
type BucketPage struct {
	Prefix string // names start with it (a byte prefix)
	After  string // names after it (exclusive): the previous page's NextAfter
	Limit  int    // 1..MaxListBuckets; other values mean MaxListBuckets
}

// BucketList is one page of buckets; NextAfter is set when more follow.
type BucketList struct {
	Buckets     []Bucket
	IsTruncated bool
	NextAfter   string
}

// ListBucketPage pages the buckets visible to the caller (RLS SELECT) by name.
func (e *Engine) ListBucketPage(ctx context.Context, c Caller, in BucketPage) (BucketList, error) {
	if in.Limit <= 0 || in.Limit > MaxListBuckets {
		in.Limit = MaxListBuckets
	}
	var rows []db.Bucket
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		// One more than asked tells whether another page follows.
		rows, err = tx.ListBucketsByName(ctx, db.BucketPage{After: in.After, Prefix: in.Prefix, Limit: in.Limit + 1})
		return err
	})
	if err != nil {
		return BucketList{}, dbErr(err, CodeNoSuchBucket, "", "")
	}
	var out BucketList
	if len(rows) > in.Limit {
		rows, out.IsTruncated = rows[:in.Limit], true
		out.NextAfter = rows[len(rows)-1].Name
	}
	out.Buckets = make([]Bucket, len(rows))
	for i, r := range rows {
		out.Buckets[i] = bucketFromRow(r)
	}
	return out, nil
}

// UpdateBucket changes a bucket's settings; RLS UPDATE decides.
func (e *Engine) UpdateBucket(ctx context.Context, c Caller, id string, in UpdateBucket) (Bucket, error) {
	if err := ValidateBucketName(id); err != nil {
		return Bucket{}, err
	}
	var u db.BucketUpdate
	if in.Public.Set {
		u.Public = &in.Public.Value
	}
	if in.FileSizeLimit.Set {
		if err := e.checkLimit(in.FileSizeLimit.Value); err != nil {
			return Bucket{}, err
		}
		var lim *int64
		if in.FileSizeLimit.Value != NoLimit {
			v := in.FileSizeLimit.Value
			lim = &v
		}
		u.FileSizeLimit = &lim
	}
	if in.AllowedMimeTypes.Set {
		if err := checkMimeTypes(in.AllowedMimeTypes.Value); err != nil {
			return Bucket{}, err
		}
		u.AllowedMimeTypes = &in.AllowedMimeTypes.Value
	}
	var out db.Bucket
	defer e.forgetBucket(id)
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		out, err = tx.UpdateBucket(ctx, id, u)
		return err
	})
	if err != nil {
		return Bucket{}, dbErr(err, CodeNoSuchBucket, id, "")
	}
	return bucketFromRow(out), nil
}

// emptyBatch bounds one delete statement while emptying a bucket.
const emptyBatch = 1000

// EmptyBucket deletes every object of a bucket the caller may delete, in batches, and
// returns how many were removed.
func (e *Engine) EmptyBucket(ctx context.Context, c Caller, id string) (int, error) {
	if _, err := e.GetBucket(ctx, c, id); err != nil {
		return 0, err
	}
	var count int
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		count, err = tx.CountObjects(ctx, id, e.opts.EmptyBucketMax+1)
		return err
	})
	if err != nil {
		return 0, dbErr(err, CodeNoSuchBucket, id, "")
	}
	if count > e.opts.EmptyBucketMax {
		return 0, &Error{Code: CodeInvalidArgument, Bucket: id, Message: "Unable to empty the bucket because it contains too many objects"}
	}
	total, after := 0, ""
	for {
		var names []string
		err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
			rows, err := tx.ObjectsInBucket(ctx, id, after, emptyBatch)
			for _, r := range rows {
				names = append(names, r.Name)
			}
			return err
		})
		if err != nil {
			return total, dbErr(err, CodeNoSuchBucket, id, "")
		}
		if len(names) == 0 {
			return total, nil
		}
		deleted, err := e.DeleteObjects(ctx, c, id, names)
		total += len(deleted)
		if err != nil {
			return total, err
		}
		after = names[len(names)-1]
		if len(names) < emptyBatch {
			return total, nil
		}
	}
}

// GetBucketAsService reads a bucket's settings without RLS, for dialects deciding whether a
// bucket is public.
func (e *Engine) GetBucketAsService(ctx context.Context, c Caller, id string) (Bucket, error) {
	return e.bucketAsService(ctx, c, id)
}
