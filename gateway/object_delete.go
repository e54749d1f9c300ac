package gateway

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
)

// MaxDeleteKeys bounds one DeleteObjects call (S3's DeleteObjects limit).
const MaxDeleteKeys = 1000

// DeleteObject removes one object; RLS SELECT + DELETE decide. A missing (or invisible)
// object is CodeNoSuchKey; as the reference, one that exists but that the RLS-scoped delete
// did not remove is CodeForbidden, judged in the delete's own snapshot (see deleteObjects).
func (e *Engine) DeleteObject(ctx context.Context, c Caller, bucket, key string) (Object, error) {
	r, err := e.deleteObjects(ctx, c, bucket, []string{key}, true, false)
	switch {
	case CodeOf(err) == CodeNoSuchBucket:
		// The reference checks that the object exists: in a missing bucket it does not.
		return Object{}, &Error{Code: CodeNoSuchKey, Bucket: bucket, Key: key}
	case err != nil:
		return Object{}, err
	case len(r.Refused) > 0:
		return Object{}, &Error{Code: CodeForbidden, Bucket: bucket, Key: key, Message: "Access denied"}
	case len(r.Deleted) == 0:
		return Object{}, &Error{Code: CodeNoSuchKey, Bucket: bucket, Key: key}
	}
	return r.Deleted[0], nil
}

// DeleteObjects removes the named objects the caller may delete and returns those removed;
// names that do not exist are skipped. Their bytes are removed after the commit.
func (e *Engine) DeleteObjects(ctx context.Context, c Caller, bucket string, keys []string) ([]Object, error) {
	r, err := e.deleteObjects(ctx, c, bucket, keys, false, false)
	return r.Deleted, err
}

// DeleteReport is the outcome of DeleteObjectsReport.
type DeleteReport struct {
	Deleted []Object
	// Refused are the requested names that exist but the caller may not delete (RLS).
	Refused []string
}

// DeleteObjectsReport is DeleteObjects that also reports the names that exist but were not
// deleted, and answers CodeNoSuchBucket for a missing bucket (S3's DeleteObject(s)). In a
// versioned bucket it writes a delete marker for every requested name, as S3 does: also
// for a name without a current version (its latest version is already a delete marker, or
// it has no version at all); such a name is reported Deleted with the marker, or Refused
// when the caller's DELETE policy would not let it delete the key (docs/versioning.md).
func (e *Engine) DeleteObjectsReport(ctx context.Context, c Caller, bucket string, keys []string) (DeleteReport, error) {
	return e.deleteObjects(ctx, c, bucket, keys, true, true)
}

// deleteObjects deletes the current rows of keys; report adds the refused names, and
// markAbsent writes delete markers for names without a current row in a versioned bucket
// (S3's DeleteObject, not the REST delete, which answers 404 for them as the reference).
func (e *Engine) deleteObjects(ctx context.Context, c Caller, bucket string, keys []string, report, markAbsent bool) (DeleteReport, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return DeleteReport{}, err
	}
	if len(keys) > MaxDeleteKeys {
		return DeleteReport{}, &Error{Code: CodeInvalidArgument, Bucket: bucket, Message: "at most 1000 keys may be deleted at once"}
	}
	if len(keys) == 0 && !report {
		return DeleteReport{}, nil
	}
	var rows []db.Object
	var blobs, refused, markers []string
	var status string // the bucket's versioning state
	// With a report, the names left after the delete are read in the delete's snapshot:
	// a statement of its own at READ COMMITTED would see a row another request created
	// after the delete ran and call it refused, even for a role RLS never refuses.
	inTx := e.db.InTx
	if report {
		inTx = func(ctx context.Context, s db.Scope, fn func(db.Tx) error) error {
			return e.db.InSnapshotTxKeys(ctx, s, bucket, keys, fn)
		}
	}
	err := inTx(ctx, c.scope(), func(tx db.Tx) error {
		rows, blobs, refused, markers = nil, nil, nil, nil // a serialization failure runs this again
		if report && e.hooks.beforeDelete != nil {
			if err := e.hooks.beforeDelete(); err != nil {
				return err
			}
		}
		var err error
		if rows, err = tx.DeleteObjects(ctx, bucket, keys); err != nil {
			return err
		}
		if report && e.hooks.afterDelete != nil {
			if err := e.hooks.afterDelete(); err != nil {
				return err
			}
		}
		return tx.AsRole(ctx, c.scope(), e.service(c), func(tx db.Tx) error {
			if report {
				if refused, err = e.refusedDeletes(ctx, tx, bucket, keys, len(rows) > 0); err != nil {
					return err
				}
			}
			status, err = tx.VersioningStatus(ctx, bucket)
			if err != nil {
				return err
			}
			markers = make([]string, len(rows))
			for i, r := range rows {
				if status != "" {
					// A versioned bucket keeps the row as a version under a delete marker.
					vd, err := e.versionDelete(ctx, tx, c, status, r)
					if err != nil {
						return err
					}
					markers[i], blobs = vd.markerID, append(blobs, vd.unlinked...)
					if vd.keepOld {
						continue
					}
				}
				if r.Version == "" {
					continue
				}
				k := e.blobKey(r.BucketID, r.Name, r.Version)
				blobs = append(blobs, k)
				if err := tx.AddIntent(ctx, k, db.IntentDelete, e.now()); err != nil {
					return err
				}
			}
			return e.emit(ctx, tx, deleteEvents(rows)...)
		})
	})
	if err != nil {
		return DeleteReport{}, dbErr(err, CodeNoSuchBucket, bucket, "")
	}
	if len(blobs) > 0 {
		e.removeSuperseded(ctx, c, blobs...)
	}
	out := DeleteReport{Deleted: make([]Object, len(rows)), Refused: refused}
	for i, r := range rows {
		out.Deleted[i] = objectFromRow(r)
		if i < len(markers) && markers[i] != "" {
			out.Deleted[i].VersionID, out.Deleted[i].DeleteMarker = markers[i], true
		}
	}
	if markAbsent && status != "" {
		absent := absentKeys(keys, rows, refused)
		if len(absent) == 0 {
			return out, nil
		}
		marked, denied, err := e.markAbsent(ctx, c, bucket, absent)
		if err != nil {
			return DeleteReport{}, err
		}
		out.Deleted = append(out.Deleted, marked...)
		out.Refused = append(out.Refused, denied...)
	}
	return out, nil
}

// absentKeys are the distinct names of keys neither deleted (rows) nor refused, sorted (so
// concurrent deletes take their key locks in one order).
func absentKeys(keys []string, rows []db.Object, refused []string) []string {
	seen := make(map[string]bool, len(rows)+len(refused))
	for _, r := range rows {
		seen[r.Name] = true
	}
	for _, k := range refused {
		seen[k] = true
	}
	var out []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// markAbsent writes a delete marker on each of keys, names the caller's delete found no
// current row for in a versioned bucket (S3 writes a marker for them too: on top of an
// earlier marker, or as the only version of a name that never existed). It runs after the
// delete, in a transaction of its own under each key's lock. The caller's DELETE policy
// decides as for DeleteObjectVersion, judged on a stand-in row with the columns of the
// key's newest version, or, for a key without any, of a row the caller would own.
//
// A write that committed a current row for a key since the delete's snapshot is ordered
// after this delete: in an Enabled bucket the marker becomes a non-current version below
// it; in a Suspended bucket the marker ("null") was replaced by that "null" write, so
// nothing is stored.
func (e *Engine) markAbsent(ctx context.Context, c Caller, bucket string, keys []string) (marked []Object, denied []string, err error) {
	var unlinked []string
	err = e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		marked, denied, unlinked = nil, nil, nil
		status, err := tx.VersioningStatus(ctx, bucket)
		if err != nil || status == "" {
			return err
		}
		owner, ownerID := ownerColumns(c.Sub)
		probes := make([]db.Object, 0, len(keys))
		live := map[string]bool{}
		for _, k := range keys {
			cur, err := tx.LockObject(ctx, bucket, k)
			switch {
			case err == nil:
				live[k] = true
				probes = append(probes, cur)
				continue
			case !errors.Is(err, db.ErrNotFound):
				return err
			}
			v, err := tx.NewestVersion(ctx, bucket, k)
			switch {
			case err == nil:
				probes = append(probes, v.Row())
			case errors.Is(err, db.ErrNotFound):
				probes = append(probes, db.Object{BucketID: bucket, Name: k, Owner: owner, OwnerID: ownerID})
			default:
				return err
			}
		}
		vis, err := tx.VisibleKeys(ctx, e.service(c), c.scope(), bucket, probes, true)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !vis[k] {
				denied = append(denied, k)
				continue
			}
			m := Object{Bucket: bucket, Key: k, DeleteMarker: true, VersionID: uuid.NewString()}
			if status == VersioningSuspended {
				m.VersionID = NullVersionID
				marked = append(marked, m)
				if live[k] {
					continue // replaced by the "null" write that landed since
				}
				gone, err := e.dropNullVersion(ctx, tx, bucket, k)
				if err != nil {
					return err
				}
				unlinked = append(unlinked, gone...)
			} else {
				marked = append(marked, m)
			}
			if err := tx.SaveVersion(ctx, db.Version{BucketID: bucket, Name: k, VersionID: m.VersionID, DeleteMarker: true,
				Owner: owner, OwnerID: ownerID, LastModified: e.now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, dbErr(err, CodeNoSuchBucket, bucket, "")
	}
	if len(unlinked) > 0 {
		e.removeSuperseded(ctx, c, unlinked...)
	}
	return marked, denied, nil
}

// refusedDeletes runs as the service role after the caller's delete, in its snapshot: the
// requested names still present are those RLS refused. With nothing deleted and nothing
// left, the bucket itself is checked (db.ErrNotFound when it is missing).
func (e *Engine) refusedDeletes(ctx context.Context, tx db.Tx, bucket string, keys []string, deletedAny bool) ([]string, error) {
	left, err := tx.GetObjects(ctx, bucket, keys)
	if err != nil {
		return nil, err
	}
	if len(left) == 0 && !deletedAny {
		if _, err := tx.GetBucket(ctx, bucket); err != nil {
			return nil, err
		}
	}
	refused := make([]string, len(left))
	for i, r := range left {
		refused[i] = r.Name
	}
	return refused, nil
}
