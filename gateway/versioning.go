package gateway

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
)

// Versioning states (S3 PutBucketVersioning). A bucket that was never versioned has none
// (""), and every write and delete behaves exactly as without versioning.
const (
	VersioningEnabled   = db.VersioningEnabled
	VersioningSuspended = db.VersioningSuspended
)

// NullVersionID is the version id of a version written while versioning was not Enabled.
const NullVersionID = db.NullVersion

// BucketVersioning returns the versioning state of a bucket the caller may see.
func (e *Engine) BucketVersioning(ctx context.Context, c Caller, bucket string) (string, error) {
	var status string
	err := e.readBucketSetting(ctx, c, bucket, func(stx db.Tx) error {
		var err error
		status, err = stx.VersioningStatus(ctx, bucket)
		return err
	})
	return status, err
}

// SetBucketVersioning sets a bucket's versioning state (Enabled or Suspended); the caller
// must be allowed to update the bucket (RLS UPDATE on storage.buckets). A versioned bucket
// can be suspended but never return to "never versioned", as in S3.
func (e *Engine) SetBucketVersioning(ctx context.Context, c Caller, bucket, status string) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	if status != VersioningEnabled && status != VersioningSuspended {
		return &Error{Code: CodeInvalidArgument, Bucket: bucket, Message: "The versioning status must be Enabled or Suspended"}
	}
	return e.writeBucketSetting(ctx, c, bucket, func(stx db.Tx) error {
		return stx.SetVersioningStatus(ctx, bucket, status)
	})
}

// versionedWrite is what a commit in a versioned bucket did besides swapping the row.
type versionedWrite struct {
	versionID string          // the new current's version id; "" in a never-versioned bucket
	keepOld   bool            // the superseded row became a non-current version: keep its bytes
	unlinked  []string        // blob keys the write unlinked (with delete intents recorded)
	lifecycle json.RawMessage // the bucket's lifecycle rules, for x-amz-expiration
}

// versionWrite runs in a commit transaction (service role, after the per-key locks) once
// row replaced old (found) or was created. In a versioned bucket the superseded row is kept
// as a non-current version instead of having its bytes removed; a Suspended bucket's
// write is the "null" version and replaces an earlier "null" version. In a never-versioned
// bucket it costs one statement and changes nothing.
func (e *Engine) versionWrite(ctx context.Context, tx db.Tx, old db.Object, found bool, row db.Object) (versionedWrite, error) {
	if e.knownPlain(row.BucketID) {
		return versionedWrite{}, nil
	}
	status, oldID, lifecycle, err := tx.VersionState(ctx, row.BucketID, row.Name, old.Version)
	w := versionedWrite{lifecycle: lifecycle}
	if err != nil {
		return w, err
	}
	e.rememberPlain(row.BucketID, status, lifecycle)
	if status == "" {
		return w, nil
	}
	if status == VersioningEnabled {
		w.versionID = row.Version
		err = tx.SetCurrentVersion(ctx, row.BucketID, row.Name, row.Version)
	} else {
		// The current_versions entry of the key (if any) names another blob version, so
		// the new row reads as "null" without touching it (fewer write conflicts).
		w.versionID = NullVersionID
		w.unlinked, err = e.dropNullVersion(ctx, tx, row.BucketID, row.Name)
	}
	if err != nil || !found || old.Version == "" {
		return w, err
	}
	if status == VersioningSuspended && oldID == NullVersionID {
		return w, nil // the null version is overwritten: its bytes go as without versioning
	}
	w.keepOld = true
	return w, tx.SaveVersion(ctx, versionFromRow(old, oldID))
}

// dropNullVersion removes the non-current "null" version of bucket/name (a Suspended
// bucket's write or delete replaces it) and records a delete intent for its bytes.
func (e *Engine) dropNullVersion(ctx context.Context, tx db.Tx, bucket, name string) ([]string, error) {
	v, err := tx.DeleteVersion(ctx, bucket, name, NullVersionID)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil || v.DeleteMarker {
		return nil, err
	}
	k := e.blobKey(bucket, name, v.BlobVersion)
	return []string{k}, tx.AddIntent(ctx, k, db.IntentDelete, e.now())
}

// versionFromRow is a superseded current row as a non-current version.
func versionFromRow(o db.Object, versionID string) db.Version {
	return db.Version{BucketID: o.BucketID, Name: o.Name, VersionID: versionID, BlobVersion: o.Version, Owner: o.Owner,
		OwnerID: o.OwnerID, Metadata: o.Metadata, UserMetadata: o.UserMetadata, CreatedAt: o.CreatedAt, LastModified: o.UpdatedAt}
}

// versionedDelete is what deleting a current row did in a versioned bucket.
type versionedDelete struct {
	keepOld  bool
	markerID string
	unlinked []string
}

// versionDelete runs in a delete's transaction (service role) for a current row r that
// the caller's delete removed, in a bucket whose versioning state is status (not ""): r
// becomes a non-current version and a delete marker becomes the latest version.
func (e *Engine) versionDelete(ctx context.Context, tx db.Tx, c Caller, status string, r db.Object) (versionedDelete, error) {
	oldID, err := tx.CurrentVersionID(ctx, r.BucketID, r.Name, r.Version)
	if err != nil {
		return versionedDelete{}, err
	}
	d := versionedDelete{markerID: uuid.NewString(), keepOld: true}
	if status == VersioningSuspended {
		d.markerID = NullVersionID
		if oldID == NullVersionID {
			d.keepOld = false
		}
		if d.unlinked, err = e.dropNullVersion(ctx, tx, r.BucketID, r.Name); err != nil {
			return d, err
		}
	}
	if d.keepOld && r.Version != "" {
		if err := tx.SaveVersion(ctx, versionFromRow(r, oldID)); err != nil {
			return d, err
		}
	}
	owner, ownerID := ownerColumns(c.Sub)
	return d, tx.SaveVersion(ctx, db.Version{BucketID: r.BucketID, Name: r.Name, VersionID: d.markerID, DeleteMarker: true,
		Owner: owner, OwnerID: ownerID, LastModified: e.now()})
}

// promoteNewest makes the newest non-current version of bucket/name current again when the
// key has no current row and that version is not a delete marker (S3: deleting the latest
// version, or the delete marker on top, uncovers the one below).
func (e *Engine) promoteNewest(ctx context.Context, tx db.Tx, bucket, name string) error {
	v, err := tx.NewestVersion(ctx, bucket, name)
	if errors.Is(err, db.ErrNotFound) || (err == nil && v.DeleteMarker) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.DeleteVersion(ctx, bucket, name, v.VersionID); err != nil {
		return err
	}
	if _, err := tx.InsertObject(ctx, v.Row()); err != nil {
		return err
	}
	if v.VersionID == NullVersionID {
		return nil
	}
	return tx.SetCurrentVersion(ctx, bucket, name, v.BlobVersion)
}

// DeleteObjectVersion removes one version of a key (S3 DeleteObject with versionId) and
// its bytes: the current one (the newest non-current version then becomes current) or a
// non-current version or delete marker. The caller's DELETE policy on storage.objects
// decides, judged on the key's current row or, without one, on a stand-in row with the
// version's columns (docs/versioning.md). A version that does not exist is not an error,
// as in S3.
func (e *Engine) DeleteObjectVersion(ctx context.Context, c Caller, bucket, key, versionID string) (Object, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return Object{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Object{}, withObject(err, bucket, key)
	}
	var out Object
	var unlinked []string
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		out, unlinked = Object{Bucket: bucket, Key: key, VersionID: versionID}, nil
		if _, err := tx.GetBucket(ctx, bucket); err != nil {
			return err
		}
		cur, err := tx.LockObject(ctx, bucket, key)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		found := err == nil
		curID := ""
		if found {
			if curID, err = tx.CurrentVersionID(ctx, bucket, key, cur.Version); err != nil {
				return err
			}
		}
		var v db.Version
		probe := cur
		if !found || curID != versionID {
			if v, err = tx.GetVersion(ctx, bucket, key, versionID); errors.Is(err, db.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			if !found {
				probe = v.Row()
			}
		}
		vis, err := tx.VisibleKeys(ctx, e.service(c), c.scope(), bucket, []db.Object{probe}, true)
		if err != nil {
			return err
		}
		if !vis[key] {
			return &Error{Code: CodeForbidden, Bucket: bucket, Key: key, Message: "Access denied"}
		}
		blob := ""
		if found && curID == versionID {
			if _, err := tx.DeleteObjects(ctx, bucket, []string{key}); err != nil {
				return err
			}
			blob, found = cur.Version, false
			out = objectFromRow(cur)
			out.VersionID = versionID
		} else {
			if _, err := tx.DeleteVersion(ctx, bucket, key, versionID); err != nil {
				return err
			}
			blob, out.DeleteMarker = v.BlobVersion, v.DeleteMarker
		}
		if blob != "" {
			k := e.blobKey(bucket, key, blob)
			unlinked = append(unlinked, k)
			if err := tx.AddIntent(ctx, k, db.IntentDelete, e.now()); err != nil {
				return err
			}
		}
		if !found {
			return e.promoteNewest(ctx, tx, bucket, key)
		}
		return nil
	})
	if err != nil {
		return Object{}, dbErr(err, CodeNoSuchBucket, bucket, key)
	}
	if len(unlinked) > 0 {
		e.removeSuperseded(ctx, c, unlinked...)
	}
	return out, nil
}

// statVersion is the object of one version (GetObject/HeadObject with versionId): the
// current row when versionID names it, else a non-current version. The caller's SELECT
// policy decides as for DeleteObjectVersion. A delete marker is CodeMethodNotAllowed
// (S3's 405), with the marker's id on the error.
func (e *Engine) statVersion(ctx context.Context, c Caller, bucket, key, versionID string, asService bool) (Object, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return Object{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Object{}, withObject(err, bucket, key)
	}
	var out Object
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		cur, err := tx.GetObject(ctx, bucket, key)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		found := err == nil
		curID := ""
		if found {
			if curID, err = tx.CurrentVersionID(ctx, bucket, key, cur.Version); err != nil {
				return err
			}
		}
		probe := cur
		var v db.Version
		if found && curID == versionID {
			out = objectFromRow(cur)
		} else {
			if v, err = tx.GetVersion(ctx, bucket, key, versionID); errors.Is(err, db.ErrNotFound) {
				return &Error{Code: CodeNoSuchVersion, Bucket: bucket, Key: key, VersionID: versionID}
			} else if err != nil {
				return err
			}
			if !found {
				probe = v.Row()
			}
			out = objectFromRow(v.Row())
		}
		out.VersionID = versionID
		if !asService {
			vis, err := tx.VisibleKeys(ctx, e.service(c), c.scope(), bucket, []db.Object{probe}, false)
			if err != nil {
				return err
			}
			if !vis[key] {
				return &Error{Code: CodeNoSuchKey, Bucket: bucket, Key: key}
			}
		}
		if v.DeleteMarker {
			return &Error{Code: CodeMethodNotAllowed, Bucket: bucket, Key: key, DeleteMarker: true, VersionID: versionID,
				Message: "The specified method is not allowed against this resource."}
		}
		return nil
	})
	if err != nil {
		return Object{}, dbErr(err, CodeNoSuchKey, bucket, key)
	}
	return out, nil
}

// currentVersionID adds the version id of the current row obj (S3's x-amz-version-id on
// GET and HEAD) when its bucket is versioned.
func (e *Engine) currentVersionID(ctx context.Context, c Caller, obj *Object) error {
	if e.knownPlain(obj.Bucket) {
		return nil
	}
	status, id, lifecycle, err := e.db.ReadVersionState(ctx, e.service(c), obj.Bucket, obj.Key, obj.Version)
	if err != nil {
		return dbErr(err, CodeNoSuchKey, obj.Bucket, obj.Key)
	}
	e.rememberPlain(obj.Bucket, status, lifecycle)
	if status != "" {
		obj.VersionID = id
	}
	obj.Expiration = e.objectExpiration(lifecycle, *obj)
	return nil
}

// deleteMarkerError turns NoSuchKey for a key whose latest version is a delete marker
// into S3's answer: 404 with x-amz-delete-marker and the marker's version id.
func (e *Engine) deleteMarkerError(ctx context.Context, c Caller, notFound error, bucket, key string) error {
	var ge *Error
	if !errors.As(notFound, &ge) || ge.Code != CodeNoSuchKey {
		return notFound
	}
	if e.knownPlain(bucket) {
		// Never versioned (within the cache's bound): no marker can be there, and a GET of
		// a missing key stays one round trip instead of four.
		return notFound
	}
	var v db.Version
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		v, err = tx.NewestVersion(ctx, bucket, key)
		if err != nil || !v.DeleteMarker {
			return err
		}
		if _, err := tx.GetObject(ctx, bucket, key); !errors.Is(err, db.ErrNotFound) {
			v.DeleteMarker = false // a current row the caller may not see: leak nothing
			return nil
		}
		vis, err := tx.VisibleKeys(ctx, e.service(c), c.scope(), bucket, []db.Object{v.Row()}, false)
		if err == nil && !vis[key] {
			v.DeleteMarker = false
		}
		return err
	})
	if err != nil || !v.DeleteMarker {
		return notFound
	}
	ge.DeleteMarker, ge.VersionID = true, v.VersionID
	return ge
}

// HeadVersion is HeadObject (RLS SELECT) of one version; versionID "" is the latest, read
// exactly as HeadObject reads it (no version id is looked up).
func (e *Engine) HeadVersion(ctx context.Context, c Caller, bucket, key, versionID string) (Object, error) {
	if versionID == "" {
		return e.HeadObject(ctx, c, bucket, key, false)
	}
	return e.statVersion(ctx, c, bucket, key, versionID, false)
}

// versionMovedSource runs in a REST move's transaction (service role) after the source row
// was renamed away: in a versioned source bucket the source key keeps that row as a version
// under a delete marker, as a delete would. keep reports that src's bytes stay.
func (e *Engine) versionMovedSource(ctx context.Context, tx db.Tx, c Caller, src Object) (keep bool, unlinked []string, err error) {
	status, err := tx.VersioningStatus(ctx, src.Bucket)
	if err != nil || status == "" {
		return false, nil, err
	}
	row := db.Object{BucketID: src.Bucket, Name: src.Key, Owner: src.Owner, OwnerID: src.OwnerID, Version: src.Version,
		Metadata: src.Metadata, UserMetadata: src.UserMetadata, CreatedAt: src.CreatedAt, UpdatedAt: src.UpdatedAt}
	vd, err := e.versionDelete(ctx, tx, c, status, row)
	return vd.keepOld, vd.unlinked, err
}
