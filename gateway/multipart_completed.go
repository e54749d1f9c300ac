package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/multipart"
)

// Completed uploads (stowage.completed_uploads). S3 keeps a completed upload's id for a
// while: a client that lost the answer to CompleteMultipartUpload and sends it again gets
// 200 with the same ETag instead of NoSuchUpload. The completion's transaction records the
// result beside deleting the upload rows; SweepCompletedUploads forgets results older than
// CompletedRetention.

// CompletedRetention is how long a completed upload's result answers repeated completions.
const CompletedRetention = DefaultUploadExpiry

// completedBatch bounds one sweep statement over completed uploads.
const completedBatch = 1000

// partsDigest identifies a part list by its numbers and ETags, in order.
func partsDigest(n int, part func(i int) (int, string)) string {
	h := sha256.New()
	for i := 0; i < n; i++ {
		num, etag := part(i)
		h.Write([]byte(strconv.Itoa(num) + ":" + multipart.TrimETag(etag) + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recordCompleted stores the result of completing u from parts, in the commit transaction.
func (e *Engine) recordCompleted(ctx context.Context, tx db.Tx, u db.Upload, parts []db.UploadPart, version string, size int64, etag string, extra Extra) error {
	return tx.RecordCompletedUpload(ctx, db.CompletedUpload{UploadID: u.ID, BucketID: u.BucketID, Key: u.Key,
		PartsDigest: partsDigest(len(parts), func(i int) (int, string) { return parts[i].PartNumber, parts[i].ETag }),
		Version:     version, Size: size, ETag: etag,
		ChecksumAlgorithm: extra.ChecksumAlgorithm, ChecksumType: extra.ChecksumType, Sum: extra.Checksum,
		CompletedAt: e.now()})
}

// completedAgain answers a completion whose upload is gone (notFound: NoSuchUpload, or
// InvalidPart when its parts vanished while it assembled them because a concurrent
// completion won): when the upload was completed with the same part list (or the request
// names none), the recorded result, as S3 does; otherwise notFound. The caller must pass
// the same RLS pre-flight a completion would.
func (e *Engine) completedAgain(ctx context.Context, c Caller, in CompleteMultipartUpload, notFound error) (Object, error) {
	if code := CodeOf(notFound); code != CodeNoSuchUpload && code != CodeInvalidPart || !validUploadID(in.UploadID) {
		return Object{}, notFound
	}
	var done db.CompletedUpload
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		done, err = tx.GetCompletedUpload(ctx, in.Bucket, in.Key, in.UploadID)
		return err
	})
	if errors.Is(err, db.ErrNotFound) {
		return Object{}, notFound
	}
	if err != nil {
		return Object{}, dbErr(err, CodeNoSuchUpload, in.Bucket, in.Key)
	}
	if len(in.Parts) > 0 && partsDigest(len(in.Parts), func(i int) (int, string) { return in.Parts[i].PartNumber, in.Parts[i].ETag }) != done.PartsDigest {
		return Object{}, notFound
	}
	if err := e.preflight(ctx, c, in.Bucket, in.Key, DefaultContentType, done.Size, nil, true); err != nil {
		return Object{}, err
	}
	return Object{Bucket: done.BucketID, Key: done.Key, Version: done.Version, Size: done.Size, ETag: done.ETag,
		LastModified: done.CompletedAt, Extra: Extra{ChecksumAlgorithm: done.ChecksumAlgorithm,
			ChecksumType: done.ChecksumType, Checksum: done.Sum}}, nil
}

// SweepCompletedUploads forgets completed uploads older than CompletedRetention and
// returns how many it removed.
func (e *Engine) SweepCompletedUploads(ctx context.Context) (int, error) {
	c := e.ServiceCaller("")
	total := 0
	for {
		var n int
		err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
			var err error
			n, err = tx.DeleteCompletedUploads(ctx, e.now().Add(-CompletedRetention), completedBatch)
			return err
		})
		if err != nil {
			return total, dbErr(err, CodeInternal, "", "")
		}
		total += n
		if n < completedBatch {
			return total, nil
		}
	}
}
