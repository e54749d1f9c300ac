package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/multipart"
)

// Resumable uploads on stores with their own multipart uploads (backend.Multipart: upstream
// S3), whose parts except the last must hold at least multipart.MinPartSize bytes while a
// TUS client picks any chunk size.
//
// A chunk goes upstream as it arrives, as the next part, led by the upload's tail: the
// bytes earlier chunks left that were too few for a part. The tail is a blob of its own
// under the upload version's key (<key>.tail/<uuid>, like the reference's incomplete-part
// objects) recorded in the TUS row (tail_key, tail_size), so any gateway finds it. A PATCH
//   - whose tail + chunk reaches the minimum, or ends the upload, streams
//     io.MultiReader(tail from the store, request body) into PutPart with the exact size,
//     and records the part and drops the tail in one transaction;
//   - otherwise writes tail + chunk to a new tail blob (write intent first), swaps the key
//     in the TUS row, and deletes the old tail after commit.
//
// Nothing is held in memory. A crash before a swap leaves the row on the old tail, which
// still exists (old bytes are deleted only after the commit that unlinks them), and the new
// blob to the intent sweep. An upstream part written but not recorded is overwritten by
// the next attempt, which reuses its number.

// tusAppendUpstream appends a PATCH body of size bytes (-1 unknown) and returns how many
// bytes it added.
func (e *Engine) tusAppendUpstream(ctx context.Context, c Caller, st *tusState, body io.Reader, size, remaining, total int64) (int64, error) {
	final := st.row.Length >= 0 && size >= 0 && st.offset+size == st.row.Length
	if size >= 0 && (final || st.row.TailSize+size >= multipart.MinPartSize) {
		if err := e.tusUpstreamPart(ctx, c, st, body, size, remaining, total); err != nil {
			return 0, err
		}
		return size, nil
	}
	before := st.row.TailSize
	if err := e.tusGrowTail(ctx, c, st, body, size, remaining); err != nil {
		return 0, err
	}
	n := st.row.TailSize - before
	if st.row.TailSize >= multipart.MinPartSize {
		// A body of unknown size made the tail big enough: it becomes a part now, so a
		// tail never outgrows one part.
		if err := e.tusUpstreamPart(ctx, c, st, nil, 0, remaining-n, total); err != nil {
			return n, err
		}
	}
	return n, nil
}

// tusFlushTail makes a remaining tail the upload's last part (a deferred length declared
// equal to the offset by a PATCH without body).
func (e *Engine) tusFlushTail(ctx context.Context, c Caller, st *tusState) error {
	if st.row.TailKey == "" {
		return nil
	}
	return e.tusUpstreamPart(ctx, c, st, nil, 0, 0, st.row.Length)
}

// tusUpstreamPart sends tail + body (size bytes) as the upload's next part, then records it
// and clears the tail in one transaction; the old tail blob is deleted after commit.
func (e *Engine) tusUpstreamPart(ctx context.Context, c Caller, st *tusState, body io.Reader, size, remaining, total int64) error {
	u := st.upload
	n, err := e.nextPartNumber(ctx, c, u)
	if err != nil {
		return err
	}
	tailKey, tailSize := st.row.TailKey, st.row.TailSize
	src, closeTail, err := e.withTail(ctx, tailKey, body)
	if err != nil {
		return err
	}
	defer closeTail()
	partID := uuid.NewString()
	written, etag, _, err := e.storePart(ctx, c, partTarget{upload: u, limit: tailSize + remaining}, n, partID, src, tailSize+size)
	if err != nil {
		return tusWriteErr(err, u)
	}
	t := partTarget{upload: u, limit: total, inTx: func(tx db.Tx) error {
		if err := st.saveMD5(ctx, tx); err != nil {
			return err
		}
		if tailKey == "" {
			return nil
		}
		if err := tx.SwapTusTail(ctx, st.row.Version, tailKey, "", 0); err != nil {
			return err
		}
		return tx.AddIntent(ctx, tailKey, db.IntentDelete, e.now())
	}}
	if _, err := e.commitPart(ctx, c, t, db.UploadPart{ID: partID, PartNumber: n, Size: written, ETag: etag}, ""); err != nil {
		return err
	}
	if tailKey != "" {
		e.removeSuperseded(ctx, c, tailKey)
	}
	st.offset += written - tailSize
	st.row.TailKey, st.row.TailSize = "", 0
	return nil
}

// tusGrowTail writes tail + body to a new tail blob and swaps it into the TUS row.
func (e *Engine) tusGrowTail(ctx context.Context, c Caller, st *tusState, body io.Reader, size, remaining int64) error {
	u := st.upload
	oldKey, oldSize := st.row.TailKey, st.row.TailSize
	src, closeTail, err := e.withTail(ctx, oldKey, body)
	if err != nil {
		return err
	}
	defer closeTail()
	newSize := int64(-1)
	if size >= 0 {
		newSize = oldSize + size
	}
	// A tail never needs more than one part's worth: past that, a body of unknown size
	// is refused rather than spooled without bound.
	limit := oldSize + min(remaining, multipart.MaxPartSize-oldSize)
	newKey := e.finalKey(u) + ".tail/" + uuid.NewString()
	written, _, err := e.writeBlob(ctx, c, newKey, src, newSize, limit, backend.PutOptions{})
	if err != nil {
		return withObject(err, u.BucketID, u.Key)
	}
	err = e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		// The sweep cannot tell a tail from an orphan (no object row names it): the write
		// intent must still be ours, or its bytes may be gone already.
		if err := tx.ClaimWriteIntent(ctx, newKey); errors.Is(err, db.ErrNotFound) {
			return &Error{Code: CodeInternal, Err: errors.New("upload tail outlived its write intent")}
		} else if err != nil {
			return err
		}
		if err := tx.SwapTusTail(ctx, st.row.Version, oldKey, newKey, written); err != nil {
			return err
		}
		if err := st.saveMD5(ctx, tx); err != nil {
			return err
		}
		if oldKey == "" {
			return nil
		}
		return tx.AddIntent(ctx, oldKey, db.IntentDelete, e.now())
	})
	if err != nil {
		e.discardBlob(ctx, c, newKey)
		return dbErr(err, CodeNoSuchUpload, u.BucketID, u.Key)
	}
	if oldKey != "" {
		e.removeSuperseded(ctx, c, oldKey)
	}
	st.offset += written - oldSize
	st.row.TailKey, st.row.TailSize = newKey, written
	return nil
}

// withTail returns the tail blob's bytes followed by body, streamed from the store.
func (e *Engine) withTail(ctx context.Context, tailKey string, body io.Reader) (io.Reader, func(), error) {
	if body == nil {
		body = eofReader{}
	}
	if tailKey == "" {
		return body, func() {}, nil
	}
	r, err := e.store.Open(ctx, tailKey, backend.Whole)
	if errors.Is(err, backend.ErrNotFound) {
		// The TUS row names the tail: missing bytes are ours to explain, not NoSuchKey.
		return nil, nil, &Error{Code: CodeInternal, Err: fmt.Errorf("open upload tail: %w", err)}
	}
	if err != nil {
		return nil, nil, storeErr(fmt.Errorf("open upload tail: %w", err), "", "")
	}
	return io.MultiReader(r, body), func() { r.Close() }, nil
}

// nextPartNumber is the number after the upload's highest recorded part.
func (e *Engine) nextPartNumber(ctx context.Context, c Caller, u db.Upload) (int, error) {
	var n int
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		n, err = tx.LastPartNumber(ctx, u.ID)
		return err
	})
	if err != nil {
		return 0, dbErr(err, CodeNoSuchUpload, u.BucketID, u.Key)
	}
	limit := e.opts.MaxTusChunks
	if _, upstream := e.store.(backend.Multipart); upstream {
		limit = min(limit, multipart.MaxPartNumber)
	}
	if n >= limit {
		// On the file store every part is a blob and a row until completion (1-byte
		// PATCHes must not make one of each per byte); upstream S3 stops at 10000 parts.
		return 0, &Error{Code: CodeInvalidArgument, Bucket: u.BucketID, Key: u.Key,
			Message: fmt.Sprintf("An upload is assembled from at most %d parts; upload with larger chunks", limit)}
	}
	return n + 1, nil
}
