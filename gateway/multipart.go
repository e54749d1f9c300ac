package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/multipart"
)

// Multipart uploads (S3 CreateMultipartUpload … CompleteMultipartUpload).
//
// State lives only in Postgres (storage.s3_multipart_uploads and _parts), so an upload
// started on one gateway can be continued on any other. Bytes of each part go either
//   - to their own blob, <object blob key of the upload's version>.parts/<n>-<part row id>
//     (stores without backend.Multipart; the file store), written like any blob (write
//     intent, then the part row in a short transaction), and concatenated at completion by
//     backend.Composer (copy_file_range) or, lacking that, streamed through; or
//   - straight into the store's own multipart upload (backend.Multipart: upstream S3),
//     whose id is the upload's id, so no part blob exists locally.
//
// Completion writes the object exactly as PutObject does (commitVersion: fresh version
// key, row swapped under the per-key lock), and in the same transaction deletes the upload
// rows and records delete intents for the part blobs, which are removed after commit.
// SweepUploads aborts uploads older than Options.UploadExpiry.

// DefaultUploadExpiry is how long an upload may stay incomplete before the sweep aborts it
// when Options.UploadExpiry is unset: the 24 hours Supabase documents.
const DefaultUploadExpiry = 24 * time.Hour

// MaxListParts bounds ListParts and ListMultipartUploads pages (S3's 1000).
const MaxListParts = 1000

// CreateMultipartUpload is the input of Engine.CreateMultipartUpload.
type CreateMultipartUpload struct {
	Bucket, Key  string
	ContentType  string
	CacheControl string
	// UserMetadata is stored with the upload and given to the object at completion.
	UserMetadata json.RawMessage
	// Extra representation headers are given to the object at completion (checksum
	// fields are ignored).
	Extra Extra
	// ChecksumAlgorithm (x-amz-checksum-algorithm, any case) makes every part carry that
	// checksum and the object get one at completion; "" for none. ChecksumType
	// (x-amz-checksum-type) is COMPOSITE (the default) or FULL_OBJECT (CRC algorithms only).
	ChecksumAlgorithm, ChecksumType string
}

// The checksum types of a multipart upload (x-amz-checksum-type).
const (
	ChecksumComposite  = "COMPOSITE"
	ChecksumFullObject = "FULL_OBJECT"
)

// checksumMode validates CreateMultipartUpload's checksum algorithm and type as S3 does
// and returns them in S3's spelling, with the type defaulted.
// Deviation: S3 answers these with InvalidRequest; the engine's nearest code is
// InvalidArgument (docs/compatibility.md).
func checksumMode(alg, typ string) (string, string, error) {
	alg, typ = strings.ToUpper(alg), strings.ToUpper(typ)
	if alg == "" {
		if typ != "" {
			return "", "", &Error{Code: CodeInvalidArgument, Message: "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."}
		}
		return "", "", nil
	}
	if NewChecksum(alg) == nil {
		return "", "", &Error{Code: CodeInvalidArgument, Message: "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"}
	}
	switch typ {
	case "", ChecksumComposite:
		if alg == "CRC64NVME" {
			// S3 computes CRC64NVME only over the full object.
			return "", "", &Error{Code: CodeInvalidArgument, Message: "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."}
		}
		return alg, ChecksumComposite, nil
	case ChecksumFullObject:
		if alg == "SHA1" || alg == "SHA256" {
			return "", "", &Error{Code: CodeInvalidArgument, Message: "The FULL_OBJECT checksum type cannot be used with the " + strings.ToLower(alg) + " checksum algorithm."}
		}
		return alg, ChecksumFullObject, nil
	}
	return "", "", &Error{Code: CodeInvalidArgument, Message: "Value for x-amz-checksum-type header is invalid."}
}

// MultipartUpload is an upload in progress.
type MultipartUpload struct {
	ID, Bucket, Key string
	// Version is the version the upload was started for (the store-side upload's key).
	Version      string
	OwnerID      string
	ContentType  string
	CacheControl string
	UserMetadata json.RawMessage
	Extra        Extra
	// Size is the total of the parts uploaded so far.
	Size      int64
	Initiated time.Time
}

// Part is an uploaded part.
type Part struct {
	Number       int
	ETag         string // quoted MD5 of the part's bytes
	Size         int64
	LastModified time.Time
	// ChecksumAlgorithm and Checksum are the part's checksum, verified while it streamed
	// (stowage.part_checksums), "" when it was uploaded without one.
	ChecksumAlgorithm, Checksum string
}

// uploadMetadata is the upload row's metadata document: the reference's {"mimetype"} plus
// what the object will need at completion.
type uploadMetadata struct {
	Mimetype     string `json:"mimetype"`
	CacheControl string `json:"cacheControl,omitempty"`
	Extra
}

func uploadFromRow(u db.Upload) MultipartUpload {
	var m uploadMetadata
	_ = json.Unmarshal(u.Metadata, &m)
	if m.Mimetype == "" {
		m.Mimetype = DefaultContentType
	}
	if m.CacheControl == "" {
		m.CacheControl = DefaultCacheControl
	}
	um := u.UserMetadata
	if string(um) == "null" {
		um = nil
	}
	return MultipartUpload{ID: u.ID, Bucket: u.BucketID, Key: u.Key, Version: u.Version, OwnerID: u.OwnerID,
		ContentType: m.Mimetype, CacheControl: m.CacheControl, UserMetadata: um, Extra: m.Extra,
		Size: u.InProgressSize, Initiated: u.CreatedAt}
}

// CreateMultipartUpload starts an upload after the same checks and RLS pre-flight as an
// upserting PutObject: the object is written (as an upsert) only at completion.
func (e *Engine) CreateMultipartUpload(ctx context.Context, c Caller, in CreateMultipartUpload) (MultipartUpload, error) {
	if in.ContentType == "" {
		in.ContentType = DefaultContentType
	}
	if in.CacheControl == "" {
		in.CacheControl = DefaultCacheControl
	}
	if err := checkObjectMetadata(objectMetadata{contentType: in.ContentType, cacheControl: in.CacheControl,
		user: in.UserMetadata, extra: in.Extra}); err != nil {
		return MultipartUpload{}, withObject(err, in.Bucket, in.Key)
	}
	if _, err := e.PrepareUpload(ctx, c, in.Bucket, in.Key, in.ContentType, 0, 0); err != nil {
		return MultipartUpload{}, err
	}
	if err := e.preflight(ctx, c, in.Bucket, in.Key, in.ContentType, 0, in.UserMetadata, true); err != nil {
		return MultipartUpload{}, err
	}
	alg, typ, err := checksumMode(in.ChecksumAlgorithm, in.ChecksumType)
	if err != nil {
		return MultipartUpload{}, withObject(err, in.Bucket, in.Key)
	}
	if err := ValidateTags(in.Extra.Tags); err != nil {
		return MultipartUpload{}, withObject(err, in.Bucket, in.Key)
	}
	version := uuid.NewString()
	id := uuid.NewString()
	mp, storeSide := e.store.(backend.Multipart)
	if storeSide {
		var err error
		id, err = mp.StartUpload(ctx, e.blobKey(in.Bucket, in.Key, version),
			backend.PutOptions{Size: -1, ContentType: in.ContentType, CacheControl: in.CacheControl})
		if err != nil {
			return MultipartUpload{}, storeErr(err, in.Bucket, in.Key)
		}
	}
	// The upload's Extra holds the checksum algorithm and type (no value): completion
	// fills in the value and gives all three to the object.
	extra := in.Extra.headers()
	extra.Tags = in.Extra.Tags // x-amz-tagging: the completed object's tags
	extra.ChecksumAlgorithm, extra.ChecksumType = alg, typ
	meta, _ := json.Marshal(uploadMetadata{Mimetype: in.ContentType, CacheControl: in.CacheControl, Extra: extra})
	_, ownerID := ownerColumns(c.Sub)
	var row db.Upload
	err = e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		// Deviation: upload_signature is the reference's encrypted progress token (keyed
		// with AUTH_ENCRYPTION_KEY); Stowage recomputes in_progress_size from the part rows
		// instead, so it stores an empty signature.
		row, err = tx.InsertUpload(ctx, db.Upload{ID: id, BucketID: in.Bucket, Key: in.Key, Version: version,
			OwnerID: ownerID, CreatedAt: e.now(), UserMetadata: in.UserMetadata, Metadata: meta})
		return err
	})
	if err != nil {
		if storeSide {
			dctx, cancel := detached(ctx)
			defer cancel()
			if aerr := mp.AbortUpload(dctx, e.blobKey(in.Bucket, in.Key, version), id); aerr != nil {
				e.log.Warn("abort store upload", "err", aerr)
			}
		}
		return MultipartUpload{}, dbErr(err, CodeNoSuchBucket, in.Bucket, in.Key)
	}
	return uploadFromRow(row), nil
}

// validUploadID bounds the upload id a client sends before it reaches a query.
func validUploadID(id string) bool { return id != "" && len(id) <= 1024 }

// findUpload reads an upload as the service role (the upload tables have RLS without
// policies; the reference reads them as the superuser after an RLS pre-flight).
func (e *Engine) findUpload(ctx context.Context, c Caller, bucket, key, id string) (db.Upload, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return db.Upload{}, err
	}
	if err := ValidateKey(key); err != nil {
		return db.Upload{}, withObject(err, bucket, key)
	}
	if !validUploadID(id) {
		return db.Upload{}, &Error{Code: CodeNoSuchUpload, Bucket: bucket, Key: key}
	}
	var u db.Upload
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		u, err = tx.GetUpload(ctx, bucket, key, id)
		return err
	})
	return u, dbErr(err, CodeNoSuchUpload, bucket, key)
}

// finalKey is where a store-side upload assembles the object: the blob key of the
// version the upload was started for.
func (e *Engine) finalKey(u db.Upload) string { return e.blobKey(u.BucketID, u.Key, u.Version) }

// partKey is the blob of one uploaded part (stores without backend.Multipart). Each upload
// of a part number gets its own key (the part row's id), so a replaced part's bytes stay
// readable until the row that replaces them commits.
func (e *Engine) partKey(u db.Upload, n int, partID string) string {
	return e.finalKey(u) + ".parts/" + strconv.Itoa(n) + "-" + partID
}

// partBlobs returns the blob keys of parts ("" entries skipped): none when the store keeps
// parts itself.
func (e *Engine) partBlobs(u db.Upload, parts []db.UploadPart) []string {
	if _, ok := e.store.(backend.Multipart); ok {
		return nil
	}
	keys := make([]string, 0, len(parts))
	for _, p := range parts {
		keys = append(keys, e.partKey(u, p.PartNumber, p.ID))
	}
	return keys
}

// unlinkParts records delete intents for part blobs in tx; removeSuperseded deletes them
// after commit (or the sweep does).
func (e *Engine) unlinkParts(ctx context.Context, tx db.Tx, keys []string) error {
	for _, k := range keys {
		if err := tx.AddIntent(ctx, k, db.IntentDelete, e.now()); err != nil {
			return err
		}
	}
	return nil
}

// AbortMultipartUpload deletes an upload and its parts. RLS: the same upsert pre-flight
// as the upload itself.
func (e *Engine) AbortMultipartUpload(ctx context.Context, c Caller, bucket, key, uploadID string) error {
	u, err := e.findUpload(ctx, c, bucket, key, uploadID)
	if err != nil {
		return err
	}
	m := uploadFromRow(u)
	if err := e.preflight(ctx, c, bucket, key, m.ContentType, 0, u.UserMetadata, true); err != nil {
		return err
	}
	var keys []string
	err = e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		if _, err := tx.LockUpload(ctx, bucket, key, uploadID); err != nil {
			return err
		}
		parts, err := tx.DeleteUpload(ctx, uploadID)
		if err != nil {
			return err
		}
		keys = e.partBlobs(u, parts)
		return e.unlinkParts(ctx, tx, keys)
	})
	if err != nil {
		return dbErr(err, CodeNoSuchUpload, bucket, key)
	}
	e.dropUploadBytes(ctx, c, u, keys)
	return nil
}

// dropUploadBytes removes what a deleted upload held: its part blobs, or the store-side
// upload. Detached: the rows are gone, the bytes must follow.
func (e *Engine) dropUploadBytes(ctx context.Context, c Caller, u db.Upload, partKeys []string) {
	if len(partKeys) > 0 {
		e.removeSuperseded(ctx, c, partKeys...)
	}
	if mp, ok := e.store.(backend.Multipart); ok {
		dctx, cancel := detached(ctx)
		defer cancel()
		// TODO(#4): a failed store-side abort is left to the upstream's lifecycle rules.
		if err := mp.AbortUpload(dctx, e.finalKey(u), u.ID); err != nil && !errors.Is(err, backend.ErrNotFound) {
			e.log.Warn("abort store upload", "upload_id", u.ID, "err", err)
		}
	}
}

// mpErr translates a multipart rule violation into the engine's error.
func mpErr(err error, bucket, key string) error {
	var me *multipart.Error
	if !errors.As(err, &me) {
		return err
	}
	code := CodeInvalidArgument
	switch {
	case errors.Is(err, multipart.ErrInvalidPart):
		code = CodeInvalidPart
	case errors.Is(err, multipart.ErrInvalidPartOrder):
		code = CodeInvalidPartOrder
	case errors.Is(err, multipart.ErrEntityTooSmall):
		code = CodeEntityTooSmall
	case errors.Is(err, multipart.ErrEntityTooLarge):
		code = CodeTooLarge
	}
	out := &Error{Code: code, Bucket: bucket, Key: key, Err: err}
	if code == CodeInvalidArgument {
		out.Message = me.Error()
	}
	return out
}
