package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/multipart"
)

// Resumable uploads (TUS 1.0.0) over the multipart machinery.
//
// POST starts a multipart upload (storage.s3_multipart_uploads) plus a stowage.tus_uploads
// row for what TUS needs beside it (length, metadata, expiry). Each PATCH stores its bytes
// as the next part, streamed to the store as they arrive; the upload's offset is the sum
// of its part sizes in Postgres (plus, on stores with a minimum part size, the size of the
// tail blob waiting for more bytes: tus_tail.go). When the offset reaches the length, the parts are
// assembled under the blob key of the upload's version (the UUID in its URL, as in the
// reference) and the object row is committed like any upload. A request works on an upload
// only while it holds the upload's Postgres advisory lock (the reference's
// pg_try_advisory_xact_lock over "<bucket>/<key>/<version>"), so two clients never
// interleave bytes, and all state is in Postgres and the store: any gateway may continue an
// upload another started, also after a restart.

// TusMaxExpiry is the longest a resumable upload may stay incomplete: the 24 hours the
// Supabase docs promise. It does not depend on Options.UploadExpiry: SweepUploads leaves
// resumable uploads to SweepTusUploads, which removes them when their own expiry passes.
const TusMaxExpiry = 24 * time.Hour

// tusSweepBatch bounds one TUS sweep transaction.
const tusSweepBatch = 100

// TusCreate is the input of Engine.TusCreate.
type TusCreate struct {
	Bucket, Key string
	// Length is Upload-Length, -1 when deferred (Upload-Defer-Length: 1).
	Length       int64
	ContentType  string
	CacheControl string
	// UserMetadata is given to the object at completion (nil stores SQL NULL).
	UserMetadata json.RawMessage
	// Metadata is the Upload-Metadata HEAD echoes.
	Metadata string
	Upsert   bool
	// Expiry is how long the upload may stay incomplete (at most TusMaxExpiry).
	Expiry time.Duration
	// Body, when not nil, is the creation-with-upload data (BodySize bytes, -1 unknown).
	Body     io.Reader
	BodySize int64
}

// TusPatch is the input of Engine.TusPatch.
type TusPatch struct {
	Bucket, Key, Version string
	// Offset is the client's Upload-Offset.
	Offset int64
	// Length declares a deferred upload's length; -1 when the request has none.
	Length int64
	// Body is streamed to the store; Size is its declared length (-1 when unknown).
	Body   io.Reader
	Size   int64
	Upsert bool
}

// TusUpload is a resumable upload's state.
type TusUpload struct {
	Bucket, Key string
	// Version is the UUID of the upload and of the object version it writes.
	Version string
	// Length is -1 while deferred.
	Length    int64
	Offset    int64
	Metadata  string
	Expires   time.Time
	Completed bool
	// VersionID is the S3 version id the upload's object got in a versioned bucket, set
	// only by the request that completed it ("" otherwise and in a never-versioned bucket).
	VersionID string
}

// tusState is an upload as one request sees it.
type tusState struct {
	row    db.TusUpload
	upload db.Upload // the multipart row; zero once completed
	offset int64
	// md5 is the running MD5 of the upload's bytes once this request restored it
	// (tus_md5.go); nil before, or when unknown.
	md5 hash.Hash
}

func (s tusState) view() TusUpload {
	return TusUpload{Bucket: s.row.BucketID, Key: s.row.Name, Version: s.row.Version, Length: s.row.Length,
		Offset: s.offset, Metadata: s.row.Metadata, Expires: s.row.ExpiresAt, Completed: s.row.Completed}
}

// tusLimit is the largest upload bucket b takes. A bucket limit of 0 counts as "no bucket
// limit" here, as in the reference's TUS path (unlike standard uploads).
func (e *Engine) tusLimit(b Bucket) int64 {
	limit := e.opts.MaxObjectSize
	if b.FileSizeLimit > 0 && b.FileSizeLimit < limit {
		limit = b.FileSizeLimit
	}
	return limit
}

func tooLarge(bucket, key, msg string) *Error {
	return &Error{Code: CodeTooLarge, Bucket: bucket, Key: key, Message: msg}
}

// TusCreate starts a resumable upload after the reference's checks, in its order: names,
// bucket and size (404, 413), the caller's RLS pre-flight for the target key with the
// upload's mime type and length (403, 409 without upsert), mime type (415). With a body it
// appends it at offset 0; a zero-length upload completes at once.
func (e *Engine) TusCreate(ctx context.Context, c Caller, in TusCreate) (TusUpload, error) {
	if in.ContentType == "" {
		in.ContentType = DefaultContentType
	}
	if in.CacheControl == "" {
		in.CacheControl = DefaultCacheControl
	}
	if err := ValidateBucketName(in.Bucket); err != nil {
		return TusUpload{}, err
	}
	if err := checkObjectMetadata(objectMetadata{contentType: in.ContentType, cacheControl: in.CacheControl,
		user: in.UserMetadata}); err != nil {
		return TusUpload{}, withObject(err, in.Bucket, in.Key)
	}
	if err := ValidateKey(in.Key); err != nil {
		return TusUpload{}, withObject(err, in.Bucket, in.Key)
	}
	b, err := e.bucketAsService(ctx, c, in.Bucket)
	if err != nil {
		return TusUpload{}, err
	}
	if in.Length > e.tusLimit(b) {
		return TusUpload{}, tooLarge(in.Bucket, in.Key, "Maximum size exceeded")
	}
	if err := e.preflight(ctx, c, in.Bucket, in.Key, in.ContentType, in.Length, in.UserMetadata, in.Upsert); err != nil {
		return TusUpload{}, err
	}
	if !MimeAllowed(b.AllowedMimeTypes, in.ContentType) {
		return TusUpload{}, &Error{Code: CodeInvalidMimeType, Bucket: in.Bucket, Key: in.Key, Message: "mime type " + in.ContentType + " is not supported"}
	}
	st, err := e.startTus(ctx, c, in)
	if err != nil {
		return TusUpload{}, err
	}
	if (in.Body == nil || in.BodySize == 0) && in.Length != 0 {
		return st.view(), nil
	}
	release, err := e.lockTus(ctx, st.row)
	if err != nil {
		return st.view(), err
	}
	defer release()
	return e.tusWrite(ctx, c, st, TusPatch{Bucket: in.Bucket, Key: in.Key, Version: st.row.Version,
		Length: -1, Body: in.Body, Size: in.BodySize, Upsert: in.Upsert})
}

// startTus records the multipart upload and the TUS row in one transaction (starting the
// store's own upload first when it has one).
func (e *Engine) startTus(ctx context.Context, c Caller, in TusCreate) (tusState, error) {
	version, id := uuid.NewString(), uuid.NewString()
	key := e.blobKey(in.Bucket, in.Key, version)
	mp, storeSide := e.store.(backend.Multipart)
	if storeSide {
		var err error
		id, err = mp.StartUpload(ctx, key, backend.PutOptions{Size: -1, ContentType: in.ContentType, CacheControl: in.CacheControl})
		if err != nil {
			return tusState{}, storeErr(err, in.Bucket, in.Key)
		}
	}
	meta, _ := json.Marshal(uploadMetadata{Mimetype: in.ContentType, CacheControl: in.CacheControl})
	_, ownerID := ownerColumns(c.Sub)
	now := e.now()
	expiry := in.Expiry
	if expiry <= 0 || expiry > TusMaxExpiry {
		expiry = TusMaxExpiry
	}
	row := db.TusUpload{Version: version, BucketID: in.Bucket, Name: in.Key, UploadID: id, Length: in.Length,
		Metadata: in.Metadata, Upsert: in.Upsert, OwnerID: ownerID, ExpiresAt: now.Add(expiry), CreatedAt: now,
		MD5State: newTusMD5()}
	var u db.Upload
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		u, err = tx.InsertUpload(ctx, db.Upload{ID: id, BucketID: in.Bucket, Key: in.Key, Version: version,
			OwnerID: ownerID, CreatedAt: now, UserMetadata: in.UserMetadata, Metadata: meta})
		if err != nil {
			return err
		}
		return tx.InsertTusUpload(ctx, row)
	})
	if err != nil {
		if storeSide {
			dctx, cancel := detached(ctx)
			defer cancel()
			if aerr := mp.AbortUpload(dctx, key, id); aerr != nil {
				e.log.Warn("abort store upload", "err", aerr)
			}
		}
		return tusState{}, dbErr(err, CodeNoSuchBucket, in.Bucket, in.Key)
	}
	return tusState{row: row, upload: u}, nil
}

// loadTus reads an upload: NoSuchUpload when unknown, Gone when expired or swept.
func (e *Engine) loadTus(ctx context.Context, c Caller, bucket, key, version string) (tusState, error) {
	notFound := &Error{Code: CodeNoSuchUpload, Bucket: bucket, Key: key, Message: "The file for this url was not found"}
	if ValidateBucketName(bucket) != nil || ValidateKey(key) != nil || uuid.Validate(version) != nil {
		return tusState{}, notFound
	}
	var st tusState
	swept := false
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		if st.row, err = tx.GetTusUpload(ctx, bucket, key, version); err != nil || st.row.Completed {
			return err
		}
		st.upload, err = tx.GetUpload(ctx, bucket, key, st.row.UploadID)
		if errors.Is(err, db.ErrNotFound) {
			swept = true
			return nil
		}
		return err
	})
	if errors.Is(err, db.ErrNotFound) {
		return tusState{}, notFound
	}
	if err != nil {
		return tusState{}, dbErr(err, CodeNoSuchUpload, bucket, key)
	}
	if swept || !e.now().Before(st.row.ExpiresAt) {
		return tusState{}, &Error{Code: CodeGone, Bucket: bucket, Key: key, Message: "The file for this url no longer exists"}
	}
	st.offset = st.upload.InProgressSize + st.row.TailSize
	if st.row.Completed {
		st.offset = st.row.Length
	}
	return st, nil
}

// lockTus takes the upload's advisory lock for the rest of the request; a second request
// on the same upload is refused (Locked) instead of queued.
func (e *Engine) lockTus(ctx context.Context, row db.TusUpload) (func(), error) {
	release, ok, err := e.db.TryLock(ctx, db.LockHash(row.BucketID+"/"+row.Name+"/"+row.Version))
	if err != nil {
		return nil, dbErr(err, CodeInternal, row.BucketID, row.Name)
	}
	if !ok {
		return nil, &Error{Code: CodeLocked, Bucket: row.BucketID, Key: row.Name, Message: "The upload is in use by another request"}
	}
	return release, nil
}

// TusHead reports an upload's offset. No RLS check is made (the reference's HEAD only
// verifies the JWT): the URL's UUID is the capability.
func (e *Engine) TusHead(ctx context.Context, c Caller, bucket, key, version string) (TusUpload, error) {
	st, err := e.loadTus(ctx, c, bucket, key, version)
	return st.view(), err
}

// TusPatch appends the body at in.Offset as the upload's next part, then completes the
// upload when the offset reaches its length. Like the reference it re-runs the RLS
// pre-flight first, so an object created at the key meanwhile fails the PATCH (409)
// unless in.Upsert or the upload was created with upsert.
func (e *Engine) TusPatch(ctx context.Context, c Caller, in TusPatch) (TusUpload, error) {
	st, err := e.loadTus(ctx, c, in.Bucket, in.Key, in.Version)
	if err != nil {
		return TusUpload{}, err
	}
	if st.row.Completed {
		return completedPatch(st, in)
	}
	// x-upsert on the creating request holds for the whole upload (tus-js-client sends its
	// headers with every request, so the reference's users see it that way).
	in.Upsert = in.Upsert || st.row.Upsert
	m := uploadFromRow(st.upload)
	if err := e.preflight(ctx, c, in.Bucket, in.Key, m.ContentType, max(st.row.Length, 0), st.upload.UserMetadata, in.Upsert); err != nil {
		return TusUpload{}, err
	}
	release, err := e.lockTus(ctx, st.row)
	if err != nil {
		return TusUpload{}, err
	}
	defer release()
	// Read again under the lock: the holder before us may have moved the offset.
	if st, err = e.loadTus(ctx, c, in.Bucket, in.Key, in.Version); err != nil {
		return TusUpload{}, err
	}
	if st.row.Completed {
		return completedPatch(st, in)
	}
	return e.tusWrite(ctx, c, st, in)
}

// completedPatch answers a PATCH on a finished upload: an empty one at the final offset
// succeeds (a client retrying its last request), anything else is a stale offset.
func completedPatch(st tusState, in TusPatch) (TusUpload, error) {
	if in.Offset == st.offset && in.Size == 0 {
		return st.view(), nil
	}
	return TusUpload{}, offsetConflict(st)
}

func offsetConflict(st tusState) *Error {
	return &Error{Code: CodeConflict, Bucket: st.row.BucketID, Key: st.row.Name, Message: "Upload-Offset conflict"}
}

// tusWrite does a PATCH's work with the upload's lock held: offset and length checks, the
// part, the completion.
func (e *Engine) tusWrite(ctx context.Context, c Caller, st tusState, in TusPatch) (TusUpload, error) {
	bucket, key := st.row.BucketID, st.row.Name
	if in.Offset != st.offset {
		return TusUpload{}, offsetConflict(st)
	}
	b, err := e.bucketAsService(ctx, c, bucket)
	if err != nil {
		return TusUpload{}, err
	}
	limit := e.tusLimit(b)
	if in.Length >= 0 {
		if st.row, err = e.declareLength(ctx, c, st, in.Length, limit); err != nil {
			return TusUpload{}, err
		}
	}
	total := st.row.Length
	if total < 0 {
		total = limit
	}
	remaining := total - st.offset
	if in.Size > remaining {
		return TusUpload{}, tooLarge(bucket, key, "upload's size exceeded")
	}
	_, upstream := e.store.(backend.Multipart)
	if in.Body != nil && in.Size != 0 {
		in.Body = st.hashChunk(in.Body)
		if upstream {
			// Any chunk size: short chunks wait in the upload's tail (tus_tail.go).
			if _, err := e.tusAppendUpstream(ctx, c, &st, in.Body, in.Size, remaining, total); err != nil {
				return TusUpload{}, err
			}
		} else {
			n, err := e.tusAppend(ctx, c, &st, in.Body, in.Size, remaining, total)
			if err != nil {
				return TusUpload{}, err
			}
			st.offset += n
		}
	}
	if st.row.Length >= 0 && st.offset == st.row.Length {
		if upstream {
			if err := e.tusFlushTail(ctx, c, &st); err != nil {
				return TusUpload{}, err
			}
		}
		versionID, err := e.tusComplete(ctx, c, st, in.Upsert)
		if err != nil {
			return TusUpload{}, err
		}
		st.row.Completed = true
		v := st.view()
		v.VersionID = versionID
		return v, nil
	}
	return st.view(), nil
}

// declareLength sets a deferred upload's length (once; not below the offset, not above
// the limit). Repeating the known length is allowed.
func (e *Engine) declareLength(ctx context.Context, c Caller, st tusState, length, limit int64) (db.TusUpload, error) {
	row := st.row
	switch {
	case row.Length >= 0 && row.Length == length:
		return row, nil
	case row.Length >= 0, length < st.offset:
		return row, &Error{Code: CodeInvalidArgument, Bucket: row.BucketID, Key: row.Name, Message: "Invalid upload-length"}
	case length > limit:
		return row, tooLarge(row.BucketID, row.Name, "Maximum size exceeded")
	}
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error { return tx.SetTusLength(ctx, row.Version, length) })
	if err != nil {
		return row, dbErr(err, CodeConflict, row.BucketID, row.Name)
	}
	row.Length = length
	return row, nil
}

// DefaultMaxTusChunks is how many parts a resumable upload on the file store may have
// (every chunk is one): 600 GiB in tus-js-client's recommended 6 MiB chunks. On upstream S3
// chunks are gathered into parts of at least 5 MiB, and S3 allows 10000 of them.
const DefaultMaxTusChunks = 100_000

// tusAppend stores body as the upload's next part on a store without its own multipart
// uploads (upstream S3 goes through tusAppendUpstream) and returns its size. Its bytes
// stream to a part blob of their own and are recorded only when the body ended cleanly: a
// cut-off chunk adds nothing, and the client resumes from the unchanged offset.
func (e *Engine) tusAppend(ctx context.Context, c Caller, st *tusState, body io.Reader, size, remaining, total int64) (int64, error) {
	u := st.upload
	n, err := e.nextPartNumber(ctx, c, u)
	if err != nil {
		return 0, err
	}
	partID := uuid.NewString()
	// No 5 GiB part cap here: the file store's parts are plain blobs.
	key := e.partKey(u, n, partID)
	written, etag, err := e.writeBlob(ctx, c, key, body, size, remaining, backend.PutOptions{})
	if err != nil {
		return 0, tusWriteErr(err, u)
	}
	t := partTarget{upload: u, limit: total, inTx: func(tx db.Tx) error { return st.saveMD5(ctx, tx) }}
	if _, err := e.commitPart(ctx, c, t, db.UploadPart{ID: partID, PartNumber: n, Size: written, ETag: etag}, key); err != nil {
		return 0, err
	}
	return written, nil
}

// tusWriteErr names the object in a failed chunk write and words a chunk past the
// upload's length as the reference does.
func tusWriteErr(err error, u db.Upload) error {
	if ge := (*Error)(nil); errors.As(err, &ge) && ge.Code == CodeTooLarge && ge.Message == "" {
		ge.Message = "upload's size exceeded"
	}
	return withObject(err, u.BucketID, u.Key)
}

// tusComplete assembles the parts under the blob key of the upload's version and commits
// the object row (without upsert the first upload to finish wins; a later one gets
// KeyAlreadyExists), deleting the multipart rows and marking the TUS row completed in the
// same transaction. It returns the object's S3 version id ("" in a never-versioned bucket).
func (e *Engine) tusComplete(ctx context.Context, c Caller, st tusState, upsert bool) (string, error) {
	u := st.upload
	m := uploadFromRow(u)
	var parts []db.UploadPart
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		parts, err = tx.UploadParts(ctx, u.ID, 0, math.MaxInt32)
		return err
	})
	if err != nil {
		return "", dbErr(err, CodeNoSuchUpload, u.BucketID, u.Key)
	}
	var total int64
	etags := make([]string, len(parts))
	for i, p := range parts {
		total += p.Size
		etags[i] = p.ETag
	}
	if total != st.row.Length {
		return "", offsetConflict(st)
	}
	key, size, etag, shared, err := e.tusAssemble(ctx, c, u, m, parts, total)
	if err != nil {
		return "", withObject(err, u.BucketID, u.Key)
	}
	layoutKey := tusLayoutKey(key, parts)
	if sum, ok := st.objectMD5(); ok {
		// The reference's ETag; the object then reads as one part in S3 (no "-N" to count).
		etag, layoutKey = sum, ""
	} else if len(parts) > 0 {
		etag = multipart.ETag(etags)
	}
	owner, ownerID := ownerColumns(c.Sub)
	row := db.Object{BucketID: u.BucketID, Name: u.Key, Owner: owner, OwnerID: ownerID, Version: u.Version,
		Metadata:     buildMetadataExtra(size, etag, m.ContentType, m.CacheControl, "", e.now(), m.Extra),
		UserMetadata: u.UserMetadata}
	obj, err := e.commitVersionWith(ctx, c, row, key, upsert, commitExtra{keepOnFailure: shared,
		event: eventSpec{s3Name: S3EventCompleteUpload, uploadType: uploadTypeResumable},
		inTx: func(tx db.Tx) ([]string, error) {
			keys, err := e.finishUpload(ctx, tx, u, parts, layoutKey)
			if err != nil {
				return nil, err
			}
			return keys, tx.CompleteTusUpload(ctx, u.Version)
		}})
	if err != nil {
		return "", err
	}
	if len(parts) == 0 {
		e.dropUploadBytes(ctx, c, u, nil) // the store's own upload, which got no part
	}
	return obj.VersionID, nil
}

// tusLayoutKey is where a finished resumable upload records its part layout: its chunks
// are the parts its multipart ETag ("…-N") counts, so ?partNumber reads and ObjectParts see
// them as S3 would see a multipart object. More parts than S3 allows (small chunks on the
// file store) are not recorded: such an object reads as a single part.
func tusLayoutKey(key string, parts []db.UploadPart) string {
	if len(parts) == 0 || len(parts) > multipart.MaxParts {
		return ""
	}
	return key
}

// tusAssemble writes the object's bytes under the upload version's blob key: the store's
// own upload, a Compose of the part blobs (no minimum part size: they are plain blobs), or
// a stream through the gateway. It returns the key, the size, the ETag of a streamed
// write, and whether the key must survive a failed commit (see commitExtra).
func (e *Engine) tusAssemble(ctx context.Context, c Caller, u db.Upload, m MultipartUpload, parts []db.UploadPart, total int64) (string, int64, string, bool, error) {
	key := e.finalKey(u)
	if _, ok := e.store.(backend.Multipart); ok && len(parts) > 0 {
		_, key, size, shared, err := e.assemble(ctx, c, u, m, parts, total)
		return key, size, "", shared, err
	}
	size, etag, err := e.assembleLocal(ctx, c, u, m, parts, total, key)
	return key, size, etag, false, err
}

// TusTerminate deletes an unfinished upload and its bytes (RLS: the same pre-flight as a
// PATCH). A finished upload cannot be terminated.
func (e *Engine) TusTerminate(ctx context.Context, c Caller, bucket, key, version string, upsert bool) error {
	st, err := e.loadTus(ctx, c, bucket, key, version)
	if err != nil {
		return err
	}
	if st.row.Completed {
		return &Error{Code: CodeInvalidArgument, Bucket: bucket, Key: key, Message: "Cannot terminate an already completed upload"}
	}
	upsert = upsert || st.row.Upsert // as in TusPatch
	m := uploadFromRow(st.upload)
	if err := e.preflight(ctx, c, bucket, key, m.ContentType, max(st.row.Length, 0), st.upload.UserMetadata, upsert); err != nil {
		return err
	}
	release, err := e.lockTus(ctx, st.row)
	if err != nil {
		return err
	}
	defer release()
	var keys []string
	err = e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		keys, err = e.dropTus(ctx, tx, st.row)
		return err
	})
	if err != nil {
		return dbErr(err, CodeNoSuchUpload, bucket, key)
	}
	e.dropUploadBytes(ctx, c, st.upload, keys)
	return nil
}

// dropTus deletes an upload's rows in tx and unlinks its part and tail blobs, returning
// their keys.
func (e *Engine) dropTus(ctx context.Context, tx db.Tx, row db.TusUpload) ([]string, error) {
	var keys []string
	if !row.Completed {
		parts, err := tx.DeleteUpload(ctx, row.UploadID)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
		keys = e.partBlobs(tusMultipartRow(row), parts)
		if row.TailKey != "" {
			keys = append(keys, row.TailKey)
		}
		if err := e.unlinkParts(ctx, tx, keys); err != nil {
			return nil, err
		}
	}
	return keys, tx.DeleteTusUpload(ctx, row.Version)
}

func tusMultipartRow(row db.TusUpload) db.Upload {
	return db.Upload{ID: row.UploadID, BucketID: row.BucketID, Key: row.Name, Version: row.Version}
}

// SweepTusUploads deletes expired resumable uploads: unfinished ones with their parts
// (delete intents in the same transaction, bytes removed after commit), finished ones'
// leftover rows. Rows are taken with SKIP LOCKED, so many gateways may sweep at once. It
// returns the number of uploads removed.
func (e *Engine) SweepTusUploads(ctx context.Context) (int, error) {
	c := e.ServiceCaller("")
	removed := 0
	for {
		var dropped []db.TusUpload
		var keys [][]string
		err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
			due, err := tx.ExpiredTusUploads(ctx, e.now(), tusSweepBatch)
			if err != nil {
				return err
			}
			for _, row := range due {
				k, err := e.dropTus(ctx, tx, row)
				if err != nil {
					return err
				}
				dropped, keys = append(dropped, row), append(keys, k)
			}
			return nil
		})
		if err != nil {
			return removed, dbErr(err, CodeInternal, "", "")
		}
		for i, row := range dropped {
			if !row.Completed {
				e.dropUploadBytes(ctx, c, tusMultipartRow(row), keys[i])
			}
		}
		removed += len(dropped)
		if len(dropped) < tusSweepBatch {
			return removed, nil
		}
	}
}
