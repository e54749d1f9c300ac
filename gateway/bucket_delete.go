package gateway

import (
	"context"
	"errors"

	"github.com/stowage/stowage/db"
)

// DeleteBucketOptions tune Engine.DeleteBucket for a dialect.
type DeleteBucketOptions struct {
	// AbortUploads aborts the bucket's unfinished S3 multipart uploads, as S3's DeleteBucket
	// does. Without it they make the delete fail with ResourceReferenced: the reference's
	// REST API refuses a bucket they still reference. Resumable (TUS) uploads are aborted either
	// way: the reference keeps them outside the database, so they never block its delete.
	AbortUploads bool
}

// droppedUpload is an upload a bucket delete removed: its bytes go after commit.
type droppedUpload struct {
	upload db.Upload
	keys   []string // part (and TUS tail) blobs, with delete intents recorded
}

// DeleteBucket removes a bucket that holds no object, aborting its unfinished uploads (see
// DeleteBucketOptions). RLS: the bucket must be visible and deletable by the caller; the
// content is checked as the service role, as the reference does.
//
// Race safety: the bucket's row lock is taken first (db.LockBucket), so no object, upload
// or part can be added any more, and every write that was adding one has committed or
// failed. Uploads are then locked without waiting: one that a completion (or a part
// commit) holds right now may become an object, so the delete answers BucketNotEmpty
// rather than guess. A completion that starts after the delete committed finds its upload
// gone and fails; its assembled bytes are discarded (or swept, by their write intent).
func (e *Engine) DeleteBucket(ctx context.Context, c Caller, id string, opts DeleteBucketOptions) error {
	if err := ValidateBucketName(id); err != nil {
		return err
	}
	notEmpty := func(cause error) error { return &Error{Code: CodeBucketNotEmpty, Bucket: id, Err: cause} }
	defer e.forgetBucket(id)
	var dropped []droppedUpload
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		dropped = nil
		if _, err := tx.GetBucket(ctx, id); err != nil {
			return err
		}
		err := tx.AsRole(ctx, c.scope(), e.service(c), func(tx db.Tx) error {
			if err := tx.LockBucket(ctx, id); err != nil {
				return err
			}
			has, err := tx.BucketHasObjects(ctx, id)
			if err == nil && !has {
				// Non-current versions and delete markers count too, as in S3.
				has, err = tx.BucketHasVersions(ctx, id)
			}
			if err != nil {
				return err
			}
			if has {
				return notEmpty(nil)
			}
			dropped, err = e.dropBucketUploads(ctx, tx, id, opts)
			if errors.Is(err, db.ErrLocked) {
				return notEmpty(err)
			}
			if err != nil {
				return err
			}
			if err := tx.DeleteBucketCompletedUploads(ctx, id); err != nil {
				return err
			}
			// In the transaction that deletes the bucket below: it rolls back with it.
			return e.emit(ctx, tx, outboxEvent{refType: EventBucketDeleted, bucket: id})
		})
		if err != nil {
			return err
		}
		return tx.DeleteBucket(ctx, id)
	})
	if err != nil {
		return dbErr(err, CodeNoSuchBucket, id, "")
	}
	for _, d := range dropped {
		e.dropUploadBytes(ctx, c, d.upload, d.keys)
	}
	return nil
}

// dropBucketUploads deletes the rows of bucket's unfinished uploads in tx (TUS rows
// included) and records delete intents for their blobs. It fails with BucketNotEmpty when
// an S3 upload exists and opts does not abort them, and with db.ErrLocked when an upload
// is busy.
func (e *Engine) dropBucketUploads(ctx context.Context, tx db.Tx, bucket string, opts DeleteBucketOptions) ([]droppedUpload, error) {
	uploads, err := tx.LockBucketUploads(ctx, bucket)
	if err != nil {
		return nil, err
	}
	tusRows, err := tx.LockBucketTusUploads(ctx, bucket)
	if err != nil {
		return nil, err
	}
	var out []droppedUpload
	for _, u := range uploads {
		if u.Tus {
			continue // dropped with its TUS row below
		}
		if !opts.AbortUploads {
			// The reference's answer is Postgres's foreign key refusal, worded by its detail.
			return nil, &Error{Code: CodeResourceReferenced, Bucket: bucket,
				Message: `Key (id)=(` + bucket + `) is still referenced from table "s3_multipart_uploads".`,
				Err:     errors.New("the bucket has unfinished multipart uploads")}
		}
		parts, err := tx.DeleteUpload(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		keys := e.partBlobs(u.Upload, parts)
		if err := e.unlinkParts(ctx, tx, keys); err != nil {
			return nil, err
		}
		out = append(out, droppedUpload{upload: u.Upload, keys: keys})
	}
	for _, row := range tusRows {
		keys, err := e.dropTus(ctx, tx, row)
		if err != nil {
			return nil, err
		}
		if !row.Completed {
			out = append(out, droppedUpload{upload: tusMultipartRow(row), keys: keys})
		}
	}
	return out, nil
}
