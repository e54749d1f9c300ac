package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
)

// CopyObject is the input of Engine.CopyObject and Engine.MoveObject.
type CopyObject struct {
	SrcBucket, SrcKey string
	// SrcVersionID copies that version of the source (S3 x-amz-copy-source ?versionId).
	SrcVersionID      string
	DstBucket, DstKey string
	Upsert            bool
	// ReplaceMetadata replaces content type, cache control and user metadata with the
	// values below instead of copying the source's (S3 MetadataDirective=REPLACE).
	ReplaceMetadata bool
	// InheritSystemMetadata, with ReplaceMetadata, keeps the source's content type and
	// cache control where ContentType/CacheControl are empty (REST copy with
	// copyMetadata=false); user metadata is still replaced.
	InheritSystemMetadata bool
	ContentType           string
	CacheControl          string
	UserMetadata          json.RawMessage
	// Extra's headers replace the source's with ReplaceMetadata; its tags replace the
	// source's with ReplaceTags (S3 TaggingDirective=REPLACE). CopyObject only.
	Extra       Extra
	ReplaceTags bool
	// SourceConditions are x-amz-copy-source-if-*; failures are CodePreconditionFailed.
	SourceConditions Conditions
	// Conditions are S3's conditional-write headers on the destination (CopyObject only).
	Conditions WriteConditions
}

// copySource reads the source row as the caller (RLS SELECT) and runs the destination
// checks and preflight.
func (e *Engine) copySource(ctx context.Context, c Caller, in *CopyObject) (Object, UploadTarget, error) {
	src, err := e.HeadVersion(ctx, c, in.SrcBucket, in.SrcKey, in.SrcVersionID)
	if err != nil {
		return Object{}, UploadTarget{}, err
	}
	if err := in.SourceConditions.CheckCopySource(src); err != nil {
		return Object{}, UploadTarget{}, err
	}
	if !in.ReplaceMetadata {
		in.ContentType, in.CacheControl, in.UserMetadata = src.ContentType, src.CacheControl, src.UserMetadata
	}
	if in.ReplaceMetadata && in.InheritSystemMetadata {
		in.ContentType, in.CacheControl = cmp.Or(in.ContentType, src.ContentType), cmp.Or(in.CacheControl, src.CacheControl)
	}
	if in.ContentType == "" {
		in.ContentType = DefaultContentType
	}
	if in.CacheControl == "" {
		in.CacheControl = DefaultCacheControl
	}
	if err := checkObjectMetadata(objectMetadata{contentType: in.ContentType, cacheControl: in.CacheControl,
		user: in.UserMetadata, extra: in.Extra}); err != nil {
		return Object{}, UploadTarget{}, withObject(err, in.DstBucket, in.DstKey)
	}
	target, err := e.PrepareUpload(ctx, c, in.DstBucket, in.DstKey, in.ContentType, src.Size, 0)
	if err != nil {
		return Object{}, UploadTarget{}, err
	}
	return src, target, nil
}

// copyBlob writes a new version key holding src's bytes: server-side when the store can,
// streamed through otherwise.
func (e *Engine) copyBlob(ctx context.Context, c Caller, src Object, dstKey string, in CopyObject) (int64, error) {
	srcKey := e.blobKey(src.Bucket, src.Key, src.Version)
	if cp, ok := e.store.(backend.Copier); ok {
		if err := e.addIntent(ctx, c, dstKey, db.IntentWrite); err != nil {
			return 0, err
		}
		w, err := cp.Copy(ctx, srcKey, dstKey)
		if err != nil {
			e.discardBlob(ctx, c, dstKey)
			return 0, storeErr(err, src.Bucket, src.Key)
		}
		return w.Size, nil
	}
	body, err := e.store.Open(ctx, srcKey, backend.Whole)
	if err != nil {
		return 0, storeErr(err, src.Bucket, src.Key)
	}
	defer body.Close()
	n, _, err := e.writeBlob(ctx, c, dstKey, body, src.Size, src.Size, backend.PutOptions{ContentType: in.ContentType, CacheControl: in.CacheControl})
	return n, err
}

// CopyObject copies an object, within or across buckets. RLS: SELECT on the source, the
// destination as an upload (INSERT, plus SELECT/UPDATE with Upsert).
func (e *Engine) CopyObject(ctx context.Context, c Caller, in CopyObject) (Object, error) {
	src, _, err := e.copySource(ctx, c, &in)
	if err != nil {
		return Object{}, err
	}
	if err := e.preflight(ctx, c, in.DstBucket, in.DstKey, in.ContentType, src.Size, in.UserMetadata, in.Upsert); err != nil {
		return Object{}, err
	}
	if err := e.precheckWrite(ctx, c, in.DstBucket, in.DstKey, in.Conditions); err != nil {
		return Object{}, err
	}
	version := uuid.NewString()
	dstKey := e.blobKey(in.DstBucket, in.DstKey, version)
	size, err := e.copyBlob(ctx, c, src, dstKey, in)
	if err != nil {
		return Object{}, err
	}
	extra := src.Extra.headers()
	if in.ReplaceMetadata {
		extra = in.Extra.headers()
	}
	extra.ChecksumAlgorithm, extra.Checksum, extra.ChecksumType, extra.Tags = src.Extra.ChecksumAlgorithm, src.Extra.Checksum, src.Extra.ChecksumType, src.Extra.Tags
	if in.ReplaceTags {
		extra.Tags = in.Extra.Tags
	}
	owner, ownerID := ownerColumns(c.Sub)
	row := db.Object{BucketID: in.DstBucket, Name: in.DstKey, Owner: owner, OwnerID: ownerID, Version: version,
		Metadata:     buildMetadataExtra(size, src.ETag, in.ContentType, in.CacheControl, src.XRobotsTag, e.now(), extra),
		UserMetadata: in.UserMetadata}
	srcKey := e.blobKey(src.Bucket, src.Key, src.Version)
	return e.commitVersionWith(ctx, c, row, dstKey, in.Upsert, commitExtra{cond: in.Conditions,
		event: eventSpec{refType: EventObjectCreatedCopy, s3Name: S3EventCopy},
		inTx:  func(tx db.Tx) ([]string, error) { return nil, tx.CopyObjectParts(ctx, srcKey, dstKey) }})
}

// MoveObject renames an object, within or across buckets, keeping its id. RLS: SELECT +
// UPDATE on the source row (the new values must pass UPDATE's WITH CHECK). The bytes are
// copied to a key under the new name first, since blob keys contain the name.
func (e *Engine) MoveObject(ctx context.Context, c Caller, in CopyObject) (Object, error) {
	if in.SrcBucket == in.DstBucket && in.SrcKey == in.DstKey {
		return e.HeadObject(ctx, c, in.SrcBucket, in.SrcKey, false)
	}
	src, _, err := e.copySource(ctx, c, &in)
	if err != nil {
		return Object{}, err
	}
	version := uuid.NewString()
	dstKey := e.blobKey(in.DstBucket, in.DstKey, version)
	size, err := e.copyBlob(ctx, c, src, dstKey, in)
	if err != nil {
		return Object{}, err
	}
	var out db.Object
	var versionID string
	superseded := []string{e.blobKey(src.Bucket, src.Key, src.Version)}
	err = e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		if err := tx.LockKey(ctx, in.DstBucket, in.DstKey); err != nil {
			return err
		}
		err := tx.AsRole(ctx, c.scope(), e.service(c), func(stx db.Tx) error {
			old, err := stx.GetObjectForUpdate(ctx, in.DstBucket, in.DstKey)
			switch {
			case err == nil && !in.Upsert:
				return &Error{Code: CodeKeyAlreadyExists, Bucket: in.DstBucket, Key: in.DstKey}
			case err != nil && !errors.Is(err, db.ErrNotFound):
				return err
			}
			found := err == nil
			// A versioned destination keeps the row the move replaces as a version.
			vw, err := e.versionWrite(ctx, stx, old, found, db.Object{BucketID: in.DstBucket, Name: in.DstKey, Version: version})
			if err != nil {
				return err
			}
			versionID = vw.versionID
			superseded = append(superseded, vw.unlinked...)
			if found {
				if !vw.keepOld {
					superseded = append(superseded, e.blobKey(old.BucketID, old.Name, old.Version))
				}
				_, err = stx.DeleteObjects(ctx, in.DstBucket, []string{in.DstKey})
			}
			return err
		})
		if err != nil {
			return err
		}
		moved := db.Object{BucketID: in.DstBucket, Name: in.DstKey, Version: version, Owner: src.Owner, OwnerID: src.OwnerID}
		if in.ReplaceMetadata {
			moved.Metadata = buildMetadata(size, src.ETag, in.ContentType, in.CacheControl, src.XRobotsTag, e.now())
			moved.UserMetadata = in.UserMetadata
		}
		// Only the version whose bytes were copied moves: a source overwritten meanwhile
		// would otherwise get the old bytes under its new metadata, and its own blob would
		// be left without a row or an intent.
		if out, err = tx.MoveObject(ctx, in.SrcBucket, in.SrcKey, src.Version, moved); err != nil {
			return err
		}
		return tx.AsRole(ctx, c.scope(), e.service(c), func(stx db.Tx) error {
			// The moved object keeps its multipart ETag, so it keeps its part layout.
			if err := stx.CopyObjectParts(ctx, superseded[0], dstKey); err != nil {
				return err
			}
			// A versioned source keeps the moved-away row as a version under a delete marker.
			keep, unlinked, err := e.versionMovedSource(ctx, stx, c, src)
			if err != nil {
				return err
			}
			if keep {
				superseded = superseded[1:]
			}
			superseded = append(superseded, unlinked...)
			for _, k := range superseded {
				if err := stx.AddIntent(ctx, k, db.IntentDelete, e.now()); err != nil {
					return err
				}
			}
			if err := e.emit(ctx, stx, moveEvents(src, out)...); err != nil {
				return err
			}
			return stx.RemoveIntents(ctx, dstKey)
		})
	})
	if err != nil {
		e.discardBlob(ctx, c, dstKey)
		return Object{}, dbErr(err, CodeNoSuchKey, in.SrcBucket, in.SrcKey)
	}
	e.removeSuperseded(ctx, c, superseded...)
	moved := objectFromRow(out)
	moved.VersionID = versionID
	return moved, nil
}
