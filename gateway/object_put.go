package gateway

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/inline"
)

// PutObject is the input of Engine.PutObject.
type PutObject struct {
	Bucket string
	Key    string
	// Body is streamed to the store; it is never held whole.
	Body io.Reader
	// Size is the declared length, -1 when unknown (chunked bodies, multipart forms).
	Size         int64
	ContentType  string
	CacheControl string
	// UserMetadata is stored as user_metadata (nil stores SQL NULL).
	UserMetadata json.RawMessage
	XRobotsTag   string
	Upsert       bool
	// Limit is an extra per-dialect cap (UPLOAD_FILE_SIZE_LIMIT_STANDARD); 0 = none.
	Limit int64
	// Extra is stored with the object (S3 headers, tags); its checksum fields are ignored:
	// the engine stores the checksum it computed under Integrity.
	Extra Extra
	// Integrity declares digests to verify and the checksum to compute while streaming.
	Integrity Integrity
	// Conditions are S3's conditional-write headers on Key (If-None-Match: *, If-Match).
	Conditions WriteConditions
}

// Defaults applied when an upload does not say.
const (
	DefaultContentType  = "application/octet-stream"
	DefaultCacheControl = "no-cache"
)

// UploadTarget is what a dialect learns before streaming a body: the bucket settings and
// the effective size limit.
type UploadTarget struct {
	Bucket Bucket
	Limit  int64
}

// effectiveLimit is min(bucket limit, global limit, dialect limit).
func (e *Engine) effectiveLimit(b Bucket, extra int64) int64 {
	limit := e.opts.MaxObjectSize
	if b.FileSizeLimit != NoLimit && b.FileSizeLimit < limit {
		limit = b.FileSizeLimit
	}
	if extra > 0 && extra < limit {
		limit = extra
	}
	return limit
}

// PrepareUpload runs the checks that precede the body, in the reference's order: bucket
// name, bucket exists (without RLS), mime type, declared size, key syntax. Dialects that must
// learn the limit before reading (multipart forms) call it; PutObject calls it too.
func (e *Engine) PrepareUpload(ctx context.Context, c Caller, bucket, key, mime string, size, extraLimit int64) (UploadTarget, error) {
	b, err := e.bucketAsService(ctx, c, bucket)
	if err != nil {
		return UploadTarget{}, err
	}
	return e.checkUpload(b, key, mime, size, extraLimit)
}

// checkUpload is PrepareUpload after the bucket lookup.
func (e *Engine) checkUpload(b Bucket, key, mime string, size, extraLimit int64) (UploadTarget, error) {
	placeholder := isPlaceholder(key)
	if mime != "" && !placeholder && !MimeAllowed(b.AllowedMimeTypes, mime) {
		return UploadTarget{}, &Error{Code: CodeInvalidMimeType, Bucket: b.ID, Key: key, Message: "mime type " + mime + " is not supported"}
	}
	limit := e.effectiveLimit(b, extraLimit)
	if placeholder {
		limit = 0
	}
	if size > limit {
		return UploadTarget{}, &Error{Code: CodeTooLarge, Bucket: b.ID, Key: key}
	}
	if err := ValidateKey(key); err != nil {
		return UploadTarget{}, err
	}
	return UploadTarget{Bucket: b, Limit: limit}, nil
}

// PutObject stores Body as Bucket/Key. The bytes go to a new version key first; the row is
// swapped in one transaction after the body ended cleanly; the old version's bytes are
// removed after commit. Without Upsert the first writer to commit wins and later ones get
// KeyAlreadyExists; with Upsert the last writer to commit wins.
func (e *Engine) PutObject(ctx context.Context, c Caller, in PutObject) (Object, error) {
	if in.ContentType == "" {
		in.ContentType = DefaultContentType
	}
	if in.CacheControl == "" {
		in.CacheControl = DefaultCacheControl
	}
	if err := checkObjectMetadata(objectMetadata{contentType: in.ContentType, cacheControl: in.CacheControl,
		robots: in.XRobotsTag, user: in.UserMetadata, extra: in.Extra}); err != nil {
		return Object{}, withObject(err, in.Bucket, in.Key)
	}
	version := uuid.NewString()
	key := e.blobKey(in.Bucket, in.Key, version)
	// A small body commits with its row (inline.Store): no write intent, no file.
	withRow := e.inlinesWithRow(key, in.Size)
	intentKey := key
	if withRow {
		intentKey = ""
	}
	target, err := e.reserveWrite(ctx, c, in, intentKey)
	if err != nil {
		return Object{}, err
	}
	body, err := newIntegrityReader(in.Body, in.Integrity)
	if err != nil {
		if !withRow {
			e.discardBlob(ctx, c, key)
		}
		return Object{}, withObject(err, in.Bucket, in.Key)
	}
	opts := backend.PutOptions{Size: in.Size, ContentType: in.ContentType, CacheControl: in.CacheControl}
	// When the store reports the MD5, Content-MD5 is checked against it after the bytes are
	// stored (and before the commit) instead of hashing the body a second time here.
	contentMD5 := ""
	if in.Integrity.ContentMD5 != "" && e.storeProvidesMD5(opts) {
		contentMD5, body.md5 = in.Integrity.ContentMD5, nil
	}
	var written int64
	var etag string
	var rowBytes []byte
	if withRow {
		rowBytes, etag, err = e.readSmallBody(body, in.Size, target.Limit)
		written = int64(len(rowBytes))
	} else {
		written, etag, err = e.storeBlob(ctx, c, key, body, in.Size, target.Limit, opts)
	}
	if err != nil {
		return Object{}, withObject(err, in.Bucket, in.Key)
	}
	if contentMD5 != "" {
		want, _ := base64.StdEncoding.DecodeString(contentMD5) // checked by newIntegrityReader
		if etag != `"`+hex.EncodeToString(want)+`"` {
			if !withRow { // a small body was only in memory
				e.discardBlob(ctx, c, key)
			}
			return Object{}, &Error{Code: CodeBadDigest, Bucket: in.Bucket, Key: in.Key,
				Message: "The Content-MD5 you specified did not match what we received."}
		}
	}
	in.Extra.ChecksumAlgorithm, in.Extra.Checksum = body.stored()
	owner, ownerID := ownerColumns(c.Sub)
	row := db.Object{BucketID: in.Bucket, Name: in.Key, Owner: owner, OwnerID: ownerID, Version: version,
		Metadata:     buildMetadataExtra(written, etag, in.ContentType, in.CacheControl, in.XRobotsTag, e.now(), in.Extra),
		UserMetadata: in.UserMetadata}
	return e.commitVersionWith(ctx, c, row, key, in.Upsert, commitExtra{cond: in.Conditions, rowBytes: rowBytes})
}

// inlinesWithRow reports whether a body of size bytes for blob key is kept in Postgres with
// its object's row (the store keeps small blobs there, inline.Store).
func (e *Engine) inlinesWithRow(key string, size int64) bool {
	s, ok := e.store.(*inline.Store)
	return ok && s.Inlines(key, size)
}

// readSmallBody reads a body of exactly size bytes (a small one: inlinesWithRow) into
// memory while hashing it, as storeBlob streams a larger one into the store, and returns it
// with its quoted MD5 ETag.
func (e *Engine) readSmallBody(body io.Reader, size, limit int64) ([]byte, string, error) {
	src := &bodyReader{r: body, limit: limit, h: md5.New()}
	// Not from the store's pool: the bytes live until the commit has run.
	data, err := inline.ReadDeclared(src, make([]byte, size+1))
	if err == nil && e.hooks.afterBlobWrite != nil {
		err = e.hooks.afterBlobWrite()
	}
	if err != nil {
		return nil, "", src.classify(err)
	}
	return data, `"` + hex.EncodeToString(src.h.Sum(nil)) + `"`, nil
}

// reserveWrite is PrepareUpload, preflight and the write intent of key: the bucket's
// settings come from the bucket cache (bucketForWrite), the intent and the preflight go as
// one pipeline (db.Reserve), so a write of a cached bucket reserves in one round trip.
func (e *Engine) reserveWrite(ctx context.Context, c Caller, in PutObject, key string) (UploadTarget, error) {
	if err := ValidateBucketName(in.Bucket); err != nil {
		return UploadTarget{}, err
	}
	b, err := e.bucketForWrite(ctx, c, in.Bucket)
	if err != nil {
		return UploadTarget{}, err
	}
	target, err := e.checkUpload(b, in.Key, in.ContentType, in.Size, in.Limit)
	if err != nil {
		return UploadTarget{}, err
	}
	probe := e.probeRow(c, in.Bucket, in.Key, in.ContentType, in.Size, in.UserMetadata)
	expires := e.intentExpiry(db.IntentWrite)
	if in.Conditions.set() {
		err = e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
			if err := tx.ReserveWrite(ctx, c.scope(), probe, in.Upsert, key, expires); err != nil {
				return err
			}
			// After the preflight, so a caller RLS refuses learns nothing about the key; as
			// the caller (the preflight's settings are still in force): a row it cannot see
			// is left to the commit's check.
			return in.Conditions.checkRow(ctx, tx, in.Bucket, in.Key)
		})
		return target, dbErr(err, CodeNoSuchBucket, in.Bucket, in.Key)
	}
	bypass, err := e.bypassesRLS(ctx, c.Role)
	if err != nil {
		return UploadTarget{}, err
	}
	err = e.db.Reserve(ctx, db.Reservation{Service: e.service(c), Caller: c.scope(), Probe: probe, Upsert: in.Upsert,
		CallerBypassesRLS: bypass, Key: key, Expires: expires})
	return target, dbErr(err, CodeNoSuchBucket, in.Bucket, in.Key)
}

// probeRow is the row a preflight inserts and rolls back.
func (e *Engine) probeRow(c Caller, bucket, key, mime string, size int64, userMeta json.RawMessage) db.Object {
	owner, ownerID := ownerColumns(c.Sub)
	return db.Object{BucketID: bucket, Name: key, Owner: owner, OwnerID: ownerID, Version: "1", UserMetadata: userMeta,
		Metadata: json.RawMessage(fmt.Sprintf(`{"mimetype":%q,"contentLength":%d}`, mime, max(size, 0)))}
}

// preflight runs the real insert as the caller and rolls it back, so RLS (and, without
// upsert, the unique index) judge the write before any byte is stored. An RLS denial is
// reported before a duplicate, as in the reference.
func (e *Engine) preflight(ctx context.Context, c Caller, bucket, key, mime string, size int64, userMeta json.RawMessage, upsert bool) error {
	probe := e.probeRow(c, bucket, key, mime, size, userMeta)
	err := e.db.Probe(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		if upsert {
			_, err = tx.UpsertObject(ctx, probe)
		} else {
			_, err = tx.InsertObject(ctx, probe)
		}
		return err
	})
	return dbErr(err, CodeNoSuchBucket, bucket, key)
}

// writeBlob records a write intent, then streams body into the store under key while
// hashing it and enforcing limit. It returns the size and the quoted MD5 ETag. When the
// store provides the MD5 itself (backend.MD5Provider), the bytes are not hashed here.
func (e *Engine) writeBlob(ctx context.Context, c Caller, key string, body io.Reader, size, limit int64, opts backend.PutOptions) (int64, string, error) {
	if err := e.addIntent(ctx, c, key, db.IntentWrite); err != nil {
		return 0, "", err
	}
	return e.storeBlob(ctx, c, key, body, size, limit, opts)
}

// storeBlob is writeBlob once key's write intent is recorded.
func (e *Engine) storeBlob(ctx context.Context, c Caller, key string, body io.Reader, size, limit int64, opts backend.PutOptions) (int64, string, error) {
	if body == nil {
		body = eofReader{}
	}
	opts.Size = size
	src := &bodyReader{r: body, limit: limit}
	if !e.storeProvidesMD5(opts) {
		src.h = md5.New()
	}
	w, err := e.store.Put(ctx, key, src, opts)
	if err == nil && e.hooks.afterBlobWrite != nil {
		err = e.hooks.afterBlobWrite()
	}
	if err != nil {
		e.discardBlob(ctx, c, key)
		return 0, "", src.classify(err)
	}
	sum := w.MD5
	switch {
	case src.h != nil:
		sum = src.h.Sum(nil)
	case len(sum) != md5.Size:
		// The store promised an MD5 and could not give one: hash what it stored.
		if sum, err = e.hashBlob(ctx, key); err != nil {
			e.discardBlob(ctx, c, key)
			return 0, "", &Error{Code: CodeInternal, Err: fmt.Errorf("hash stored blob: %w", err)}
		}
	}
	return w.Size, `"` + hex.EncodeToString(sum) + `"`, nil
}

// storeProvidesMD5 reports whether the store will report the MD5 of a Put of opts.
func (e *Engine) storeProvidesMD5(opts backend.PutOptions) bool {
	p, ok := e.store.(backend.MD5Provider)
	return ok && p.ProvidesMD5(opts)
}

// hashBlob reads a stored blob back and returns its MD5.
func (e *Engine) hashBlob(ctx context.Context, key string) ([]byte, error) {
	r, err := e.store.Open(ctx, key, backend.Whole)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := md5.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func (e *Engine) addIntent(ctx context.Context, c Caller, key, kind string) error {
	expires := e.intentExpiry(kind)
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error { return tx.AddIntent(ctx, key, kind, expires) })
	return dbErr(err, CodeInternal, "", "")
}

// intentExpiry is when an intent of kind recorded now falls to the sweep: a write may take
// WriteTimeout (plus a margin), a delete is due at once.
func (e *Engine) intentExpiry(kind string) time.Time {
	expires := e.now()
	if kind == db.IntentWrite {
		expires = expires.Add(e.opts.WriteTimeout + e.opts.WriteTimeout/4)
	}
	return expires
}

// discardBlob removes the bytes of a write that will not be committed. If that fails too,
// the write intent stays and the sweep retries.
func (e *Engine) discardBlob(ctx context.Context, c Caller, key string) {
	dctx, cancel := detached(ctx)
	defer cancel()
	if err := e.deleteBlobs(dctx, key); err != nil {
		e.log.Warn("discard blob", "key", key, "err", err)
	}
}

// deleteBlobs removes the bytes of keys and then their intents. With small blobs kept in
// Postgres (inline.Store) their rows go with the intents, in one round trip, so an engine
// whose store keeps them pays no extra round trip for a blob kept elsewhere.
func (e *Engine) deleteBlobs(ctx context.Context, keys ...string) error {
	if s, ok := e.store.(*inline.Store); ok {
		return s.DeleteThen(ctx, keys, func() error { return e.db.ForgetSmallBlobs(ctx, keys...) })
	}
	if err := e.store.Delete(ctx, keys...); err != nil {
		return err
	}
	return e.db.ForgetIntents(ctx, keys...)
}

// commitVersion swaps row in (as the service role, after the caller's preflight) under the
// per-key advisory lock, then removes the superseded bytes.
func (e *Engine) commitVersion(ctx context.Context, c Caller, row db.Object, key string, upsert bool) (Object, error) {
	return e.commitVersionWith(ctx, c, row, key, upsert, commitExtra{})
}

// commitExtra is more work for commitVersion's transaction (multipart completion).
type commitExtra struct {
	// inTx runs last in the commit transaction; it returns blob keys the commit unlinks,
	// which are removed after commit like the superseded version (with delete intents
	// recorded by inTx).
	inTx func(tx db.Tx) (unlinked []string, err error)
	// keepOnFailure: key is fixed per upload (a store-side multipart completion), so a
	// concurrent completion may already have committed a row pointing at it; a failed
	// commit must not discard it (its write intent lets the sweep decide).
	keepOnFailure bool
	// cond is checked against the current row after the lock: the conditional write's
	// decision is atomic with the commit.
	cond WriteConditions
	// onRefused runs in the transaction, which then commits, when cond refuses the write:
	// it returns blob keys it unlinked (a store-side completion that consumed its upload
	// gives up the upload and the assembled blob), removed after commit.
	onRefused func(tx db.Tx) (unlinked []string, err error)
	// event names the event the commit records (zero: derived, see commitEvent).
	event eventSpec
	// rowBytes, when set, are the blob's bytes, stored under key with the row (inline.Store):
	// key has no write intent and nothing to discard when the commit fails.
	rowBytes []byte
}

// commitVersionWith is commitVersion plus extra's work in the same transaction.
func (e *Engine) commitVersionWith(ctx context.Context, c Caller, row db.Object, key string, upsert bool, extra commitExtra) (Object, error) {
	var out db.Object
	var oldKey string
	var unlinked []string
	var refused error
	var vw versionedWrite
	if e.hooks.beforeCommit != nil {
		e.hooks.beforeCommit()
	}
	var scanErr error
	// Two round trips in the common case: the lock and the row, then the queued writes with
	// COMMIT. A statement added here that must run at once costs one more and fits.
	err := e.db.InObjectTx(ctx, e.service(c), row.BucketID, row.Name, func(tx db.Tx, old db.Object, err error) error {
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		found := err == nil
		if refused = extra.cond.check(row.BucketID, row.Name, objectFromRow(old), found); refused != nil {
			if extra.onRefused == nil {
				return refused
			}
			unlinked, err = extra.onRefused(tx)
			return err
		}
		if found && !upsert {
			return &Error{Code: CodeKeyAlreadyExists, Bucket: row.BucketID, Key: row.Name}
		}
		if extra.inTx != nil {
			// extra.inTx reads what the commit wrote: the row goes in at once.
			if out, err = tx.CommitObject(ctx, row, key); err != nil {
				return err
			}
			if unlinked, err = extra.inTx(tx); err != nil {
				return err
			}
		} else if extra.rowBytes != nil {
			tx.QueueSmallBlob(key, extra.rowBytes)
			tx.QueueCommitObject(row, &out, &scanErr)
		} else {
			tx.QueueCommitObject(row, &out, &scanErr, key)
		}
		// A queued commit fills out only at COMMIT: the event describes the row as sent.
		evRow := row
		if extra.inTx != nil {
			evRow = out
		}
		// The commit runs as the service role: the event goes with COMMIT, no round trip.
		if err := e.emitAtCommit(ctx, tx, commitEvent(c, evRow, found, extra.event)); err != nil {
			return err
		}
		// In a versioned bucket the superseded row becomes a non-current version.
		if vw, err = e.versionWrite(ctx, tx, old, found, row); err != nil {
			return err
		}
		unlinked = append(unlinked, vw.unlinked...)
		// Last: extra.inTx may still read what belongs to the superseded version (a copy
		// onto its own key copies the part layout that this delete intent removes).
		if found && old.Version != "" && !vw.keepOld {
			oldKey = e.blobKey(old.BucketID, old.Name, old.Version)
			tx.QueueAddIntent(oldKey, db.IntentDelete, e.now())
		}
		return nil
	})
	if err == nil && scanErr != nil {
		// Committed; only reading the stored row back failed: answer with what was sent.
		e.log.Warn("read committed object", "bucket", row.BucketID, "err", scanErr)
		out = row
	}
	if err == nil && refused != nil {
		err = refused
		if len(unlinked) > 0 {
			e.removeSuperseded(ctx, c, unlinked...)
		}
	}
	if err != nil {
		if !extra.keepOnFailure && extra.rowBytes == nil {
			e.discardBlob(ctx, c, key)
		}
		return Object{}, dbErr(err, CodeNoSuchBucket, row.BucketID, row.Name)
	}
	if oldKey != "" {
		unlinked = append(unlinked, oldKey)
	}
	if len(unlinked) > 0 {
		e.removeSuperseded(ctx, c, unlinked...)
	}
	obj := objectFromRow(out)
	obj.VersionID = vw.versionID
	obj.Expiration = e.objectExpiration(vw.lifecycle, obj)
	return obj, nil
}

// removeSuperseded deletes bytes no row points at any more; the delete intent recorded in
// the commit transaction lets the sweep finish the job if this fails or the process dies.
func (e *Engine) removeSuperseded(ctx context.Context, c Caller, keys ...string) {
	if e.hooks.beforeCleanup != nil && e.hooks.beforeCleanup() != nil {
		return
	}
	dctx, cancel := detached(ctx)
	defer cancel()
	if err := e.deleteBlobs(dctx, keys...); err != nil {
		e.log.Warn("remove superseded blobs", "keys", len(keys), "err", err)
	}
}

// bodyReader hashes the client's body, enforces the size limit and remembers whether a
// failure came from the client's side of the stream.
type bodyReader struct {
	r       io.Reader
	limit   int64
	n       int64
	h       hash.Hash // nil when the store provides the MD5
	bodyErr error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		b.bodyErr = &Error{Code: CodeTooLarge}
		return 0, b.bodyErr
	}
	if b.h != nil {
		b.h.Write(p[:n])
	}
	if err != nil && err != io.EOF {
		b.bodyErr = err
	}
	return n, err
}

// classify turns a failed Put into the engine error the client should see: its own body's
// failure (too large, truncated, bad signature) is a client error, anything else is ours.
func (b *bodyReader) classify(err error) error {
	var ge *Error
	switch {
	case b.bodyErr != nil && errors.As(b.bodyErr, &ge):
		return ge
	case b.bodyErr != nil:
		return &Error{Code: CodeIncompleteBody, Err: b.bodyErr}
	case errors.Is(err, backend.ErrSizeMismatch):
		return &Error{Code: CodeIncompleteBody, Err: err}
	case errors.Is(err, backend.ErrUnavailable):
		return &Error{Code: CodeUnavailable, Err: err}
	case isInsufficientStorage(err):
		return insufficientStorage(err, "", "")
	case errors.Is(err, backend.ErrInvalidKey):
		return &Error{Code: CodeInvalidKey, Err: err}
	case errors.As(err, &ge):
		return ge
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeIncompleteBody, Err: err}
	}
	return &Error{Code: CodeInternal, Err: fmt.Errorf("store put: %w", err)}
}

func withObject(err error, bucket, key string) error {
	var ge *Error
	if errors.As(err, &ge) && ge.Bucket == "" {
		ge.Bucket, ge.Key = bucket, key
		if ge.Code == CodeInvalidKey && ge.Message == "" {
			ge.Message = "Invalid key: " + key
		}
	}
	return err
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
