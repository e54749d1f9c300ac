package gateway

import (
	"context"

	"github.com/stowage/stowage/db"
)

// MaxDeleteKeys bounds one DeleteObjects call (S3's DeleteObjects limit).
const MaxDeleteKeys = 1000

// DeleteObject removes one object; RLS SELECT + DELETE decide. A missing (or invisible)
// object is CodeNoSuchKey.
func (e *Engine) DeleteObject(ctx context.Context, c Caller, bucket, key string) (Object, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return Object{}, err
	}
	deleted, err := e.DeleteObjects(ctx, c, bucket, []string{key})
	if err != nil {
		return Object{}, err
	}
	if len(deleted) == 0 {
		// As the reference: an object that exists but was not deleted under RLS is a
		// denial, not a missing key.
		if _, err := e.HeadObject(ctx, c, bucket, key, true); err == nil {
			return Object{}, &Error{Code: CodeForbidden, Bucket: bucket, Key: key, Message: "Access denied"}
		}
		return Object{}, &Error{Code: CodeNoSuchKey, Bucket: bucket, Key: key}
	}
	return deleted[0], nil
}

// DeleteObjects removes the named objects the caller may delete and returns those removed;
// names that do not exist are skipped. Their bytes are removed after the commit.
func (e *Engine) DeleteObjects(ctx context.Context, c Caller, bucket string, keys []string) ([]Object, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return nil, err
	}
	if len(keys) > MaxDeleteKeys {
		return nil, &Error{Code: CodeInvalidArgument, Bucket: bucket, Message: "at most 1000 keys may be deleted at once"}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	var rows []db.Object
	var blobs []string
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		if rows, err = tx.DeleteObjects(ctx, bucket, keys); err != nil {
			return err
		}
		return tx.AsRole(ctx, c.scope(), e.service(c), func(tx db.Tx) error {
			for _, r := range rows {
				if r.Version == "" {
					continue
				}
				k := e.blobKey(r.BucketID, r.Name, r.Version)
				blobs = append(blobs, k)
				if err := tx.AddIntent(ctx, k, db.IntentDelete, e.now()); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, dbErr(err, CodeNoSuchBucket, bucket, "")
	}
	if len(blobs) > 0 {
		e.removeSuperseded(ctx, c, blobs...)
	}
	out := make([]Object, len(rows))
	for i, r := range rows {
		out[i] = objectFromRow(r)
	}
	return out, nil
}
