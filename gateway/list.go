package gateway

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stowage/stowage/db"
)

// MaxListKeys bounds one listing page (S3 and list v2 allow at most 1000).
const MaxListKeys = 1000

// ListObjects is the input of Engine.ListObjects: an S3-style listing in byte order.
type ListObjects struct {
	Bucket     string
	Prefix     string
	Delimiter  string
	StartAfter string // exclusive; a common prefix here skips the whole folder
	MaxKeys    int
}

// ListResult is one page of a listing.
type ListResult struct {
	// Objects carry what a listing shows: Bucket, Key, Size, ETag, LastModified, OwnerID,
	// UpdatedAt and Extra.ChecksumAlgorithm (GetObject or HeadObject read the rest).
	Objects        []Object
	CommonPrefixes []string
	// IsTruncated is true when more entries follow; NextMarker is the last key or common
	// prefix returned, to pass back as StartAfter.
	IsTruncated bool
	NextMarker  string
}

// listBatch is how many rows one statement of a version listing reads.
const listBatch = 1000

// ListObjects lists the objects visible to the caller (RLS SELECT). With a delimiter, keys
// that share a prefix up to the first delimiter after Prefix are rolled into one common
// prefix, and the scan jumps past them instead of reading every key under a folder.
func (e *Engine) ListObjects(ctx context.Context, c Caller, in ListObjects) (ListResult, error) {
	if err := ValidateBucketName(in.Bucket); err != nil {
		return ListResult{}, err
	}
	if in.MaxKeys <= 0 || in.MaxKeys > MaxListKeys {
		in.MaxKeys = MaxListKeys
	}
	var res ListResult
	// The bucket's row comes with BEGIN (one round trip fewer per page).
	err := e.db.InBucketTx(ctx, c.scope(), in.Bucket, func(tx db.Tx, _ db.Bucket, err error) error {
		if err != nil {
			var visible bool
			if err2 := tx.AsRole(ctx, c.scope(), e.service(c), func(stx db.Tx) error {
				_, err := stx.GetBucket(ctx, in.Bucket)
				visible = err == nil
				return nil
			}); err2 != nil || !visible {
				return err
			}
		}
		res, err = listPage(ctx, tx, in)
		return err
	})
	if err != nil {
		return ListResult{}, dbErr(err, CodeNoSuchBucket, in.Bucket, "")
	}
	return res, nil
}

func listPage(ctx context.Context, tx db.Tx, in ListObjects) (ListResult, error) {
	var res ListResult
	after, from := in.StartAfter, ""
	if in.Delimiter != "" && strings.HasPrefix(after, in.Prefix) {
		if i := strings.Index(after[len(in.Prefix):], in.Delimiter); i >= 0 {
			from = db.PrefixUpperBound(after[:len(in.Prefix)+i+len(in.Delimiter)])
		}
	}
	// One range scan until the first common prefix; from there on one ListWalk statement
	// jumps past each common prefix inside Postgres for the rest of the page (a range scan
	// would read the names under it, or one statement per folder). Each statement asks for
	// the entries the page still lacks plus one, whose presence is IsTruncated: a page
	// without common prefixes is one statement, whether it is the bucket's first or last.
	walking := false // the statement is a ListWalk: every row is used, common prefixes included
	for {
		var rows []db.Listed
		var err error
		limit := in.MaxKeys - len(res.Objects) - len(res.CommonPrefixes) + 1
		if walking {
			// After a common prefix the next rows are often under another one (a folder of
			// folders): one statement jumps from folder to folder for the rest of the page.
			rows, err = tx.ListWalk(ctx, in.Bucket, in.Prefix, in.Delimiter, after, from, limit)
		} else {
			rows, err = tx.ListEntries(ctx, in.Bucket, in.Prefix, after, from, limit)
		}
		if err != nil {
			return res, err
		}
		skipped, lastCP := false, ""
		for i, r := range rows {
			if len(res.Objects)+len(res.CommonPrefixes) == in.MaxKeys {
				res.IsTruncated = true
				return res, nil
			}
			rest := r.Name[len(in.Prefix):]
			if j := strings.Index(rest, in.Delimiter); in.Delimiter != "" && j >= 0 {
				cp := r.Name[:len(in.Prefix)+j+len(in.Delimiter)]
				res.CommonPrefixes = append(res.CommonPrefixes, cp)
				res.NextMarker = cp
				// Jump past every key under cp (the walk already did).
				from, after, skipped, lastCP = db.PrefixUpperBound(cp), "", true, cp
				if walking {
					continue
				}
				break
			}
			lastCP = ""
			if res.Objects == nil {
				// Room for every entry the page can still take from these rows: an Object
				// is ~500 bytes, and growing a 1,000-object slice by append allocates,
				// clears and copies several times its final size.
				res.Objects = make([]Object, 0, min(len(rows)-i, in.MaxKeys-len(res.CommonPrefixes)))
			}
			res.Objects = append(res.Objects, objectFromListed(in.Bucket, r))
			res.NextMarker, after = r.Name, r.Name
		}
		if walking {
			// A walk shorter than asked reached the end of the range, unless it stopped
			// at a common prefix ending in U+10FFFF, whose bound it leaves to us.
			if len(rows) < limit && !strings.HasSuffix(lastCP, string(rune(utf8.MaxRune))) {
				return res, nil
			}
			if from == "" && lastCP != "" {
				return res, nil
			}
			continue
		}
		if !skipped && len(rows) < limit {
			return res, nil
		}
		if skipped && from == "" {
			return res, nil
		}
		walking = skipped
	}
}

// objectFromListed is objectFromRow for a listing row: the metadata keys come extracted by
// Postgres (a malformed size or date reads as objectFromRow reads it: 0, the row's
// updated_at).
func objectFromListed(bucket string, r db.Listed) Object {
	o := Object{Bucket: bucket, Key: r.Name, OwnerID: r.OwnerID, UpdatedAt: r.UpdatedAt, LastModified: r.UpdatedAt,
		ETag: r.ETag, Extra: Extra{ChecksumAlgorithm: r.ChecksumAlgorithm}}
	o.Size, _ = strconv.ParseInt(r.Size, 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, r.LastModified); err == nil {
		o.LastModified = t
	}
	return o
}
