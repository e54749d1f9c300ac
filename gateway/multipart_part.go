package gateway

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/multipart"
)

// UploadPart is the input of Engine.UploadPart.
type UploadPart struct {
	Bucket, Key, UploadID string
	PartNumber            int
	// Body is streamed to the store; Size is its declared length (-1 when unknown).
	Body io.Reader
	Size int64
	// Integrity declares digests (Content-MD5, x-amz-checksum-*) verified while streaming.
	Integrity Integrity
}

// partTarget is what an UploadPart or UploadPartCopy learned before moving bytes.
type partTarget struct {
	upload db.Upload
	limit  int64 // bytes the whole upload may hold
	// inTx, when set, runs last in commitPart's transaction (TUS swaps its tail there).
	inTx func(tx db.Tx) error
}

// preparePart runs the checks before a part's bytes move, in the reference's order:
// part number, upload exists, bucket limit, RLS upsert pre-flight on the target key.
func (e *Engine) preparePart(ctx context.Context, c Caller, bucket, key, uploadID string, n int, size int64) (partTarget, error) {
	if err := multipart.CheckPartNumber(n); err != nil {
		return partTarget{}, mpErr(err, bucket, key)
	}
	if err := multipart.CheckPartSize(size); err != nil {
		return partTarget{}, mpErr(err, bucket, key)
	}
	u, err := e.findUpload(ctx, c, bucket, key, uploadID)
	if err != nil {
		return partTarget{}, err
	}
	m := uploadFromRow(u)
	// Multipart totals are capped by the bucket and global limits, not the dialect's
	// single-request cap (s3-api.md §6).
	target, err := e.PrepareUpload(ctx, c, bucket, key, "", max(size, 0), 0)
	if err != nil {
		return partTarget{}, err
	}
	if err := e.preflight(ctx, c, bucket, key, m.ContentType, max(size, 0), u.UserMetadata, true); err != nil {
		return partTarget{}, err
	}
	return partTarget{upload: u, limit: target.Limit}, nil
}

// UploadPart stores one part. Its bytes stream to the store under a fresh key (or into the
// store's own upload); the part row then replaces any earlier upload of the same number.
func (e *Engine) UploadPart(ctx context.Context, c Caller, in UploadPart) (Part, error) {
	t, err := e.preparePart(ctx, c, in.Bucket, in.Key, in.UploadID, in.PartNumber, in.Size)
	if err != nil {
		return Part{}, err
	}
	integ := in.Integrity
	if alg := uploadFromRow(t.upload).Extra.ChecksumAlgorithm; alg != "" {
		// S3: every part of an upload created with a checksum algorithm carries that
		// checksum; a part sent without one gets it computed.
		if integ.ChecksumAlgorithm == "" {
			integ.ChecksumAlgorithm = alg
		} else if !strings.EqualFold(integ.ChecksumAlgorithm, alg) {
			return Part{}, &Error{Code: CodeInvalidArgument, Bucket: in.Bucket, Key: in.Key,
				Message: "Checksum Type mismatch occurred, expected checksum Type: " + strings.ToLower(alg) +
					", actual checksum Type: " + strings.ToLower(integ.ChecksumAlgorithm)}
		}
	}
	body, err := newIntegrityReader(in.Body, integ)
	if err != nil {
		return Part{}, withObject(err, in.Bucket, in.Key)
	}
	partID := uuid.NewString()
	size, etag, key, err := e.storePart(ctx, c, t, in.PartNumber, partID, body, in.Size)
	if err != nil {
		return Part{}, withObject(err, in.Bucket, in.Key)
	}
	row := db.UploadPart{ID: partID, PartNumber: in.PartNumber, Size: size, ETag: etag}
	row.ChecksumAlgorithm, row.Checksum = body.stored()
	if e.hooks.beforePartCommit != nil {
		e.hooks.beforePartCommit()
	}
	return e.commitPart(ctx, c, t, row, key)
}

// storePart moves a part's bytes: into the store's own upload when it has one
// (backend.Multipart), else into a blob of its own (writeBlob: write intent, streamed,
// hashed, size-limited). It returns the size, the quoted ETag and the blob key ("" when the
// store keeps the part). TUS and UploadPartCopy share it.
func (e *Engine) storePart(ctx context.Context, c Caller, t partTarget, n int, partID string, body io.Reader, size int64) (int64, string, string, error) {
	limit := min(t.limit, multipart.MaxPartSize)
	if mp, ok := e.store.(backend.Multipart); ok {
		if body == nil {
			body = eofReader{}
		}
		src := &bodyReader{r: body, limit: limit, h: md5.New()}
		etag, err := mp.PutPart(ctx, e.finalKey(t.upload), t.upload.ID, n, src, size)
		if err != nil {
			if errors.Is(err, backend.ErrNotFound) && src.bodyErr == nil {
				return 0, "", "", &Error{Code: CodeNoSuchUpload, Err: err}
			}
			return 0, "", "", src.classify(err)
		}
		if etag == "" {
			etag = hex.EncodeToString(src.h.Sum(nil))
		}
		return src.n, `"` + multipart.TrimETag(etag) + `"`, "", nil
	}
	key := e.partKey(t.upload, n, partID)
	written, etag, err := e.writeBlob(ctx, c, key, body, size, limit, backend.PutOptions{})
	return written, etag, key, err
}

// errPartOverwritten: the store kept another upload of the part number than this one.
var errPartOverwritten = errors.New("the store kept a later upload of this part number")

// commitPart records a stored part in one short transaction under the upload's row lock:
// the row replaces earlier uploads of the number (whose blobs get delete intents), the
// upload's total is recomputed and checked against the limit, and the part's write intent
// is dropped. On failure the part's blob is discarded.
//
// Two uploads of one part number that overlap: the one that finishes last wins. With part
// blobs that is the last to commit (the other's blob is unlinked). A store that keeps parts
// itself (upstream S3) keeps the last upload to reach it, which may commit first: so a
// commit that replaces a row asks the store which bytes it kept, and one whose bytes were
// overwritten leaves the row to the upload that overwrote them.
func (e *Engine) commitPart(ctx context.Context, c Caller, t partTarget, p db.UploadPart, key string) (Part, error) {
	u := t.upload
	p.UploadID, p.BucketID, p.Key, p.Version, p.CreatedAt = u.ID, u.BucketID, u.Key, u.Version, e.now()
	_, p.OwnerID = ownerColumns(c.Sub)
	var unlinked []string
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		if _, err := tx.LockUpload(ctx, u.BucketID, u.Key, u.ID); err != nil {
			return err
		}
		replaced, err := tx.ReplacePart(ctx, p)
		if err != nil {
			return err
		}
		if len(replaced) > 0 && key == "" {
			if err := e.checkStoredPart(ctx, u, p); err != nil {
				return err
			}
		}
		total, err := tx.SetUploadSize(ctx, u.ID)
		if err != nil {
			return err
		}
		if total > t.limit {
			return &Error{Code: CodeTooLarge, Bucket: u.BucketID, Key: u.Key}
		}
		unlinked = e.partBlobs(u, replaced)
		if err := e.unlinkParts(ctx, tx, unlinked); err != nil {
			return err
		}
		if t.inTx != nil {
			if err := t.inTx(tx); err != nil {
				return err
			}
		}
		if key == "" {
			return nil
		}
		return tx.RemoveIntents(ctx, key)
	})
	if err != nil && !errors.Is(err, errPartOverwritten) {
		if key != "" {
			e.discardBlob(ctx, c, key)
		}
		return Part{}, dbErr(err, CodeNoSuchUpload, u.BucketID, u.Key)
	}
	if len(unlinked) > 0 {
		e.removeSuperseded(ctx, c, unlinked...)
	}
	return Part{Number: p.PartNumber, ETag: p.ETag, Size: p.Size, LastModified: p.CreatedAt,
		ChecksumAlgorithm: p.ChecksumAlgorithm, Checksum: p.Checksum}, nil
}

// checkStoredPart fails with errPartOverwritten when the store (backend.PartETagger) holds
// other bytes than p's for its part number.
func (e *Engine) checkStoredPart(ctx context.Context, u db.Upload, p db.UploadPart) error {
	pe, ok := e.store.(backend.PartETagger)
	if !ok {
		return nil
	}
	kept, err := pe.PartETag(ctx, e.finalKey(u), u.ID, p.PartNumber)
	if err != nil {
		return storeErr(err, u.BucketID, u.Key)
	}
	if kept != "" && multipart.TrimETag(kept) != multipart.TrimETag(p.ETag) {
		return errPartOverwritten
	}
	return nil
}

// UploadPartCopy is the input of Engine.UploadPartCopy.
type UploadPartCopy struct {
	Bucket, Key, UploadID string
	PartNumber            int
	SrcBucket, SrcKey     string
	// SrcVersionID copies from that version of the source (S3 ?versionId).
	SrcVersionID string
	// Range is x-amz-copy-source-range ("bytes=first-last", both bounds required), "" for
	// the whole source.
	Range string
}

// UploadPartCopy stores (a range of) an existing object as a part. RLS: SELECT on the
// source, the upload's pre-flight on the target.
func (e *Engine) UploadPartCopy(ctx context.Context, c Caller, in UploadPartCopy) (Part, error) {
	src, err := e.HeadVersion(ctx, c, in.SrcBucket, in.SrcKey, in.SrcVersionID)
	if err != nil {
		return Part{}, err
	}
	rng, whole, err := parseCopyRange(in.Range, src.Size)
	if err != nil {
		return Part{}, withObject(err, in.SrcBucket, in.SrcKey)
	}
	t, err := e.preparePart(ctx, c, in.Bucket, in.Key, in.UploadID, in.PartNumber, rng.Length())
	if err != nil {
		return Part{}, err
	}
	partID := uuid.NewString()
	var size int64
	var etag, key string
	// An upload with a checksum algorithm needs the part's checksum: the bytes are read
	// and hashed rather than copied server-side.
	alg := uploadFromRow(t.upload).Extra.ChecksumAlgorithm
	var sum *integrityReader
	_, storeSide := e.store.(backend.Multipart)
	if _, copier := e.store.(backend.Copier); copier && whole && !storeSide && isPlainMD5(src.ETag) && alg == "" {
		// The part is the whole source, whose ETag is its MD5: a server-side copy needs
		// no hashing.
		key = e.partKey(t.upload, in.PartNumber, partID)
		size, err = e.copyBlob(ctx, c, src, key, CopyObject{})
		etag = src.ETag
	} else {
		br := backend.Whole
		if !whole {
			br = backend.Range{Offset: rng.Start, Length: rng.Length()}
		}
		var body io.ReadCloser
		body, err = e.store.Open(ctx, e.blobKey(src.Bucket, src.Key, src.Version), br)
		if err != nil {
			return Part{}, storeErr(err, src.Bucket, src.Key)
		}
		var r io.Reader = body
		if alg != "" {
			if sum, err = newIntegrityReader(body, Integrity{ChecksumAlgorithm: alg}); err != nil {
				body.Close()
				return Part{}, withObject(err, in.Bucket, in.Key)
			}
			r = sum
		}
		size, etag, key, err = e.storePart(ctx, c, t, in.PartNumber, partID, r, rng.Length())
		body.Close()
	}
	if err != nil {
		return Part{}, withObject(err, in.Bucket, in.Key)
	}
	row := db.UploadPart{ID: partID, PartNumber: in.PartNumber, Size: size, ETag: etag}
	if sum != nil {
		row.ChecksumAlgorithm, row.Checksum = sum.stored()
	}
	return e.commitPart(ctx, c, t, row, key)
}

// parseCopyRange reads x-amz-copy-source-range: "bytes=first-last" with both bounds. S3
// answers InvalidArgument for a malformed range and InvalidRange for one that does not lie
// inside the source.
func parseCopyRange(s string, size int64) (ByteRange, bool, error) {
	all := ByteRange{Start: 0, End: size - 1}
	if s == "" {
		return all, true, nil
	}
	msg := "Range specified is not valid for source object of size: " + strconv.FormatInt(size, 10)
	bad := &Error{Code: CodeInvalidArgument, Message: msg}
	spec, ok := strings.CutPrefix(s, "bytes=")
	first, last, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 || len(first) > 19 || len(last) > 19 {
		return ByteRange{}, false, bad
	}
	a, err1 := strconv.ParseInt(first, 10, 64)
	b, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || a < 0 || b < a || first[0] == '+' || last[0] == '+' {
		return ByteRange{}, false, bad
	}
	if b >= size {
		return ByteRange{}, false, &Error{Code: CodeInvalidRange, Message: msg}
	}
	r := ByteRange{Start: a, End: b}
	return r, r == all, nil
}

// isPlainMD5 reports whether an ETag is a quoted MD5 (not a multipart "-N" ETag).
func isPlainMD5(etag string) bool {
	t := multipart.TrimETag(etag)
	_, err := hex.DecodeString(t)
	return len(t) == 32 && err == nil
}
