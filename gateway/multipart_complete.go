package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/multipart"
)

// CompleteMultipartUpload is the input of Engine.CompleteMultipartUpload.
type CompleteMultipartUpload struct {
	Bucket, Key, UploadID string
	// Parts is the client's part list (multipart.ParseComplete); empty means every
	// uploaded part, as the reference server allows.
	Parts []multipart.CompletedPart
	// Checksum is a whole-object checksum the client sent (x-amz-checksum-<alg>); it must
	// match the one computed from the parts, or nothing is completed.
	Checksum ObjectChecksum
	// Conditions are S3's conditional-write headers on the object (If-None-Match: *,
	// If-Match). A refused completion keeps the upload, so it can be retried or aborted —
	// except when the store had already assembled it (a race lost at commit on a store
	// with its own multipart uploads): the store's upload is spent, so the upload is
	// removed too, as S3 tells clients to start over after a 409.
	Conditions WriteConditions
}

// ObjectChecksum is a checksum a client claims for a whole object: an algorithm as S3
// names it (CRC32, ...) and the base64 value (a COMPOSITE value with or without its "-N").
type ObjectChecksum struct {
	Algorithm, Value string
}

// checkObjectChecksum compares a claimed whole-object checksum with the computed one in
// extra. An upload created without an algorithm has nothing to compare with: the claim is
// not checked, as before S3 had flexible checksums.
func checkObjectChecksum(claim ObjectChecksum, extra Extra) error {
	if claim.Value == "" || extra.Checksum == "" {
		return nil
	}
	if !strings.EqualFold(claim.Algorithm, extra.ChecksumAlgorithm) {
		return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf(
			"The upload was created using the %s checksum algorithm; the complete request names %s.",
			strings.ToLower(extra.ChecksumAlgorithm), strings.ToLower(claim.Algorithm))}
	}
	// Base64 has no "-": what follows one is a COMPOSITE value's part count.
	got, _, _ := strings.Cut(extra.Checksum, "-")
	want, _, _ := strings.Cut(claim.Value, "-")
	if got != want {
		return &Error{Code: CodeBadDigest, Message: fmt.Sprintf("The %s you specified did not match the calculated checksum.",
			strings.ToLower(extra.ChecksumAlgorithm))}
	}
	return nil
}

// CompleteMultipartUpload assembles the named parts into the object, in order and without
// moving bytes through memory (backend.Composer or the store's own multipart upload), then
// commits the object like an upserting PutObject and deletes the upload and its parts.
// The object's ETag is S3's multipart ETag, "<md5 of the part MD5s>-<part count>".
func (e *Engine) CompleteMultipartUpload(ctx context.Context, c Caller, in CompleteMultipartUpload) (Object, error) {
	u, err := e.findUpload(ctx, c, in.Bucket, in.Key, in.UploadID)
	if err != nil {
		return e.completedAgain(ctx, c, in, err) // a retry of a completed upload
	}
	m := uploadFromRow(u)
	parts, err := e.selectParts(ctx, c, u, in.Parts)
	if err != nil {
		return e.completedAgain(ctx, c, in, err) // its parts went with a concurrent completion
	}
	if err := checkPartChecksums(in.Parts, parts); err != nil {
		return Object{}, withObject(err, in.Bucket, in.Key)
	}
	extra := m.Extra
	if extra.Checksum, err = objectChecksum(extra.ChecksumAlgorithm, extra.ChecksumType, parts); err != nil {
		return Object{}, withObject(err, in.Bucket, in.Key)
	}
	if extra.Checksum == "" {
		extra.ChecksumAlgorithm, extra.ChecksumType = "", ""
	}
	if err := checkObjectChecksum(in.Checksum, extra); err != nil {
		return Object{}, withObject(err, in.Bucket, in.Key)
	}
	var total int64
	for _, p := range parts {
		total += p.Size
	}
	if _, err := e.PrepareUpload(ctx, c, in.Bucket, in.Key, "", total, 0); err != nil {
		return Object{}, err
	}
	if err := e.preflight(ctx, c, in.Bucket, in.Key, m.ContentType, total, u.UserMetadata, true); err != nil {
		return Object{}, err
	}
	if err := e.precheckWrite(ctx, c, in.Bucket, in.Key, in.Conditions); err != nil {
		return Object{}, err
	}
	version, key, size, shared, err := e.assemble(ctx, c, u, m, parts, total)
	if err != nil {
		return e.completedAgain(ctx, c, in, withObject(err, in.Bucket, in.Key))
	}
	etags := make([]string, len(parts))
	for i, p := range parts {
		etags[i] = p.ETag
	}
	owner, ownerID := ownerColumns(c.Sub)
	etag := multipart.ETag(etags)
	row := db.Object{BucketID: u.BucketID, Name: u.Key, Owner: owner, OwnerID: ownerID, Version: version,
		Metadata:     buildMetadataExtra(size, etag, m.ContentType, m.CacheControl, "", e.now(), extra),
		UserMetadata: u.UserMetadata}
	extraWork := commitExtra{keepOnFailure: shared, cond: in.Conditions,
		event: eventSpec{s3Name: S3EventCompleteUpload, uploadType: uploadTypeS3},
		inTx: func(tx db.Tx) ([]string, error) {
			keys, err := e.finishUpload(ctx, tx, u, parts, key)
			if err == nil {
				err = e.recordCompleted(ctx, tx, u, parts, version, size, etag, extra)
			}
			return keys, err
		}}
	if shared {
		extraWork.onRefused = func(tx db.Tx) ([]string, error) { return e.giveUpUpload(ctx, tx, u, key) }
	}
	obj, err := e.commitVersionWith(ctx, c, row, key, true, extraWork)
	if err != nil {
		return e.completedAgain(ctx, c, in, err) // a concurrent completion won
	}
	return obj, nil
}

// giveUpUpload runs in the transaction of a completion refused by its conditions after
// the store assembled the object under key: the store's upload is spent, so the upload's
// rows go and key is unlinked. If a concurrent completion of the same upload committed
// first (the upload row is gone), key is that completion's object and stays.
func (e *Engine) giveUpUpload(ctx context.Context, tx db.Tx, u db.Upload, key string) ([]string, error) {
	if _, err := tx.LockUpload(ctx, u.BucketID, u.Key, u.ID); errors.Is(err, db.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if _, err := tx.DeleteUpload(ctx, u.ID); err != nil {
		return nil, err
	}
	return []string{key}, tx.AddIntent(ctx, key, db.IntentDelete, e.now())
}

// checkPartChecksums compares the checksums the client's part list names with the ones
// verified when the parts were uploaded. S3 answers InvalidPart when one differs, or names
// a checksum the part was not uploaded with.
func checkPartChecksums(requested []multipart.CompletedPart, parts []db.UploadPart) error {
	if len(requested) == 0 {
		return nil
	}
	byNumber := make(map[int]db.UploadPart, len(parts))
	for _, p := range parts {
		byNumber[p.PartNumber] = p
	}
	for _, r := range requested {
		p := byNumber[r.PartNumber]
		for _, c := range [...]struct{ alg, value string }{{"CRC32", r.ChecksumCRC32}, {"CRC32C", r.ChecksumCRC32C},
			{"CRC64NVME", r.ChecksumCRC64NVME}, {"SHA1", r.ChecksumSHA1}, {"SHA256", r.ChecksumSHA256}} {
			if c.value != "" && (p.ChecksumAlgorithm != c.alg || p.Checksum != c.value) {
				return &Error{Code: CodeInvalidPart, Err: fmt.Errorf("part %d: %s checksum does not match the uploaded part", r.PartNumber, c.alg)}
			}
		}
	}
	return nil
}

// objectChecksum is the checksum of an upload's object from its parts' checksums: S3's
// COMPOSITE (digest of the digests, "-N") or FULL_OBJECT (the CRCs combined). "" when the
// upload has no checksum algorithm.
func objectChecksum(alg, typ string, parts []db.UploadPart) (string, error) {
	if alg == "" {
		return "", nil
	}
	sums := make([]string, len(parts))
	sizes := make([]int64, len(parts))
	for i, p := range parts {
		if p.ChecksumAlgorithm != alg || p.Checksum == "" {
			// UploadPart gives every part of such an upload this checksum; a part without
			// it was written by another server.
			return "", &Error{Code: CodeInvalidPart, Err: fmt.Errorf("part %d has no %s checksum", p.PartNumber, alg)}
		}
		sums[i], sizes[i] = p.Checksum, p.Size
	}
	var (
		sum string
		err error
	)
	if typ == ChecksumFullObject {
		sum, err = multipart.FullObject(multipart.Algorithm(alg), sums, sizes)
	} else {
		sum, err = multipart.Composite(multipart.Algorithm(alg), sums)
	}
	if err != nil {
		return "", &Error{Code: CodeInternal, Err: fmt.Errorf("object checksum: %w", err)}
	}
	return sum, nil
}

// selectParts reads the upload's parts (one row per number) and applies the completion
// rules to the client's list.
func (e *Engine) selectParts(ctx context.Context, c Caller, u db.Upload, requested []multipart.CompletedPart) ([]db.UploadPart, error) {
	var stored []db.UploadPart
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		if stored, err = tx.UploadParts(ctx, u.ID, 0, multipart.MaxParts); err != nil {
			return err
		}
		return tx.PartChecksums(ctx, stored)
	})
	if err != nil {
		return nil, dbErr(err, CodeNoSuchUpload, u.BucketID, u.Key)
	}
	rules := make([]multipart.Part, len(stored))
	byNumber := make(map[int]db.UploadPart, len(stored))
	for i, p := range stored {
		rules[i] = multipart.Part{Number: p.PartNumber, ETag: p.ETag, Size: p.Size}
		byNumber[p.PartNumber] = p
	}
	chosen, err := multipart.Select(requested, rules)
	if err != nil {
		return nil, mpErr(err, u.BucketID, u.Key)
	}
	out := make([]db.UploadPart, len(chosen))
	for i, p := range chosen {
		out[i] = byNumber[p.Number]
	}
	return out, nil
}

// assemble writes the object's bytes from parts and returns its version, blob key and
// size. shared reports a key fixed per upload (store-side completion) that a concurrent
// completion may already have committed.
func (e *Engine) assemble(ctx context.Context, c Caller, u db.Upload, m MultipartUpload, parts []db.UploadPart, total int64) (version, key string, size int64, shared bool, err error) {
	if mp, ok := e.store.(backend.Multipart); ok {
		key = e.finalKey(u)
		if err := e.addIntent(ctx, c, key, db.IntentWrite); err != nil {
			return "", "", 0, false, err
		}
		bp := make([]backend.Part, len(parts))
		for i, p := range parts {
			bp[i] = backend.Part{Number: p.PartNumber, ETag: p.ETag}
		}
		w, err := mp.FinishUpload(ctx, key, u.ID, bp)
		if err != nil {
			// The intent stays: if no completion commits, the sweep removes the bytes.
			return "", "", 0, false, assembleErr(err)
		}
		return u.Version, key, w.Size, true, nil
	}
	version = uuid.NewString()
	key = e.blobKey(u.BucketID, u.Key, version)
	size, _, err = e.assembleLocal(ctx, c, u, m, parts, total, key)
	if err != nil {
		return "", "", 0, false, err
	}
	return version, key, size, false, nil
}

// assembleLocal writes the part blobs of u, in order, as one blob under key (recorded as
// a write intent first): composed by the store when it can (copy_file_range on the file
// store), otherwise streamed through one open part at a time. The MD5 ETag comes back
// only from the streamed path ("" when composed).
func (e *Engine) assembleLocal(ctx context.Context, c Caller, u db.Upload, m MultipartUpload, parts []db.UploadPart, total int64, key string) (int64, string, error) {
	srcs := e.partBlobs(u, parts)
	opts := backend.PutOptions{Size: total, ContentType: m.ContentType, CacheControl: m.CacheControl}
	if cm, ok := e.store.(backend.Composer); ok && len(parts) > 0 {
		if err := e.addIntent(ctx, c, key, db.IntentWrite); err != nil {
			return 0, "", err
		}
		w, err := cm.Compose(ctx, key, srcs, opts)
		if err == nil && e.hooks.afterBlobWrite != nil {
			err = e.hooks.afterBlobWrite()
		}
		if err != nil {
			e.discardBlob(ctx, c, key)
			return 0, "", assembleErr(err)
		}
		return w.Size, "", nil
	}
	pr := &backend.Concat{Ctx: ctx, Store: e.store, Keys: srcs}
	defer pr.Close()
	size, etag, err := e.writeBlob(ctx, c, key, pr, total, total, opts)
	if err != nil && pr.Err != nil {
		return 0, "", assembleErr(pr.Err)
	}
	return size, etag, err
}

// assembleErr: a part that vanished or changed size under us was replaced or aborted
// concurrently; the client's part list no longer describes the upload. Any other store
// failure is mapped as everywhere else (storeErr: an unreachable store is Unavailable).
func assembleErr(err error) error {
	if errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrSizeMismatch) {
		return &Error{Code: CodeInvalidPart, Err: err}
	}
	var ge *Error
	if errors.As(err, &ge) {
		return ge
	}
	return storeErr(fmt.Errorf("assemble parts: %w", err), "", "")
}

// finishUpload runs in the commit transaction: it deletes the upload (which must still
// exist and still hold the parts that were assembled), unlinks every part blob and, unless
// layoutKey is "", records the parts used as the layout of the object's blob layoutKey.
func (e *Engine) finishUpload(ctx context.Context, tx db.Tx, u db.Upload, used []db.UploadPart, layoutKey string) ([]string, error) {
	gone := &Error{Code: CodeNoSuchUpload, Bucket: u.BucketID, Key: u.Key}
	if _, err := tx.LockUpload(ctx, u.BucketID, u.Key, u.ID); errors.Is(err, db.ErrNotFound) {
		return nil, gone
	} else if err != nil {
		return nil, err
	}
	parts, err := tx.DeleteUpload(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(parts))
	for _, p := range parts {
		have[p.ID] = true
	}
	for _, p := range used {
		if !have[p.ID] {
			// Re-uploaded while we assembled: the bytes we used are no longer the part.
			return nil, &Error{Code: CodeInvalidPart, Bucket: u.BucketID, Key: u.Key,
				Err: fmt.Errorf("part %d was replaced during completion", p.PartNumber)}
		}
	}
	if layoutKey != "" {
		layout := make([]db.ObjectPart, len(used))
		for i, p := range used {
			layout[i] = db.ObjectPart{PartNumber: p.PartNumber, Size: p.Size, ChecksumAlgorithm: p.ChecksumAlgorithm, Checksum: p.Checksum}
		}
		if err := tx.RecordObjectParts(ctx, layoutKey, layout); err != nil {
			return nil, err
		}
	}
	keys := e.partBlobs(u, parts)
	return keys, e.unlinkParts(ctx, tx, keys)
}
