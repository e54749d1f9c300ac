package gateway

import (
	"context"
	"errors"

	"github.com/stowage/stowage/db"
)

// Bucket settings that live in Stowage's schema (tags, versioning, lifecycle rules,
// notification configuration) follow one access rule, the rule of the bucket row itself:
// the caller must see the bucket (else CodeNoSuchBucket) to read one, and may change one
// only where RLS lets it update the bucket (else CodeForbidden), whose updated_at the
// change bumps. The setting's own table is then read or written as the service role.

// readBucketSetting runs read as the service role once the caller has seen bucket.
func (e *Engine) readBucketSetting(ctx context.Context, c Caller, bucket string, read func(stx db.Tx) error) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		if _, err := tx.GetBucket(ctx, bucket); err != nil {
			return err
		}
		return tx.AsRole(ctx, c.scope(), e.service(c), read)
	})
	return dbErr(err, CodeNoSuchBucket, bucket, "")
}

// writeBucketSetting runs write as the service role once the caller has been allowed to
// update bucket, then drops this gateway's cached view of the bucket.
func (e *Engine) writeBucketSetting(ctx context.Context, c Caller, bucket string, write func(stx db.Tx) error) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		if _, err := tx.GetBucket(ctx, bucket); err != nil {
			return err
		}
		if _, err := tx.UpdateBucket(ctx, bucket, db.BucketUpdate{}); err != nil {
			if errors.Is(err, db.ErrNotFound) {
				// Visible but hidden from UPDATE's USING clause: a policy said no.
				return &Error{Code: CodeForbidden, Bucket: bucket, Message: "Access denied", Err: err}
			}
			return err
		}
		return tx.AsRole(ctx, c.scope(), e.service(c), write)
	})
	e.forgetBucket(bucket)
	return dbErr(err, CodeNoSuchBucket, bucket, "")
}
