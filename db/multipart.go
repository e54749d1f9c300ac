package db

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// Upload is a storage.s3_multipart_uploads row.
type Upload struct {
	ID             string
	BucketID       string
	Key            string
	Version        string
	OwnerID        string
	InProgressSize int64
	// Signature is upload_signature (NOT NULL in the reference schema); see InsertUpload.
	Signature    string
	CreatedAt    time.Time
	UserMetadata json.RawMessage
	Metadata     json.RawMessage
}

// UploadPart is a storage.s3_multipart_uploads_parts row. ID (a UUID) also names the
// part's blob, so a re-uploaded part number gets fresh bytes.
type UploadPart struct {
	ID         string
	UploadID   string
	PartNumber int
	Size       int64
	BucketID   string
	Key        string
	ETag       string
	OwnerID    string
	Version    string
	CreatedAt  time.Time
	// ChecksumAlgorithm and Checksum are the part's additional checksum (a
	// stowage.part_checksums row), "" when it was uploaded without one. Only ReplacePart
	// writes and PartChecksums reads them.
	ChecksumAlgorithm, Checksum string
}

const uploadColumns = `id, bucket_id, key, version, coalesce(owner_id, ''), in_progress_size, upload_signature,
	created_at, user_metadata, metadata`

func scanUpload(row pgx.Row) (Upload, error) {
	var u Upload
	var um, m []byte
	err := row.Scan(&u.ID, &u.BucketID, &u.Key, &u.Version, &u.OwnerID, &u.InProgressSize, &u.Signature, &u.CreatedAt, &um, &m)
	if um != nil {
		u.UserMetadata = um
	}
	if m != nil {
		u.Metadata = m
	}
	return u, Classify(err)
}

const partColumns = `id::text, upload_id, part_number, size, bucket_id, key, etag, coalesce(owner_id, ''), version, created_at`

func scanPart(row pgx.Row) (UploadPart, error) {
	var p UploadPart
	err := row.Scan(&p.ID, &p.UploadID, &p.PartNumber, &p.Size, &p.BucketID, &p.Key, &p.ETag, &p.OwnerID, &p.Version, &p.CreatedAt)
	return p, Classify(err)
}

func collectParts(rows pgx.Rows, err error) ([]UploadPart, error) {
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UploadPart, error) { return scanPart(r) })
	return out, Classify(err)
}

// InsertUpload records a new multipart upload. created_at comes from the caller (the
// engine's clock), so the expiry sweep and its tests agree on time.
func (t Tx) InsertUpload(ctx context.Context, u Upload) (Upload, error) {
	const q = `insert into storage.s3_multipart_uploads
			(id, bucket_id, key, version, owner_id, in_progress_size, upload_signature, created_at, user_metadata, metadata)
		values ($1, $2, $3, $4, nullif($5, ''), 0, $6, $7, $8::jsonb, $9::jsonb)
		returning ` + uploadColumns
	return scanUpload(t.tx.QueryRow(ctx, q, u.ID, u.BucketID, u.Key, u.Version, u.OwnerID, u.Signature, u.CreatedAt,
		jsonArg(u.UserMetadata), jsonArg(u.Metadata)))
}

// GetUpload reads the upload id of bucket/key visible to the scope (ErrNotFound otherwise).
func (t Tx) GetUpload(ctx context.Context, bucket, key, id string) (Upload, error) {
	return scanUpload(t.tx.QueryRow(ctx, `select `+uploadColumns+` from storage.s3_multipart_uploads
		where id = $1 and bucket_id = $2 and key = $3`, id, bucket, key))
}

// LockUpload reads and row-locks an upload: part commits, completion and abort of one
// upload serialise on it (each holds it only for a short transaction).
func (t Tx) LockUpload(ctx context.Context, bucket, key, id string) (Upload, error) {
	return scanUpload(t.tx.QueryRow(ctx, `select `+uploadColumns+` from storage.s3_multipart_uploads
		where id = $1 and bucket_id = $2 and key = $3 for update`, id, bucket, key))
}

// ReplacePart stores p as the one row of its (upload, part number) and returns the rows
// it replaced. The reference table has no unique constraint and the reference adds a row
// per upload of a part number; we keep exactly one, so ListParts and completion see the
// latest upload of each number. Callers hold the upload's row lock (LockUpload), which is
// what makes delete-then-insert safe against a concurrent upload of the same number.
func (t Tx) ReplacePart(ctx context.Context, p UploadPart) (replaced []UploadPart, err error) {
	rows, err := t.tx.Query(ctx, `delete from storage.s3_multipart_uploads_parts
		where upload_id = $1 and part_number = $2 returning `+partColumns, p.UploadID, p.PartNumber)
	if replaced, err = collectParts(rows, err); err != nil {
		return nil, err
	}
	const q = `insert into storage.s3_multipart_uploads_parts
			(id, upload_id, part_number, size, bucket_id, key, etag, owner_id, version, created_at)
		values ($1::uuid, $2, $3, $4, $5, $6, $7, nullif($8, ''), $9, $10)`
	if _, err := t.tx.Exec(ctx, q, p.ID, p.UploadID, p.PartNumber, p.Size, p.BucketID, p.Key, p.ETag, p.OwnerID, p.Version, p.CreatedAt); err != nil {
		return nil, Classify(err)
	}
	if p.ChecksumAlgorithm != "" {
		const qc = `insert into stowage.part_checksums (part_id, algorithm, checksum) values ($1::uuid, $2, $3)`
		if _, err := t.tx.Exec(ctx, qc, p.ID, p.ChecksumAlgorithm, p.Checksum); err != nil {
			return nil, Classify(err)
		}
	}
	return replaced, nil
}

// SetUploadSize stores the sum of the upload's part sizes as in_progress_size and returns it.
func (t Tx) SetUploadSize(ctx context.Context, id string) (int64, error) {
	var n int64
	err := t.tx.QueryRow(ctx, `update storage.s3_multipart_uploads u
		set in_progress_size = (select coalesce(sum(size), 0) from storage.s3_multipart_uploads_parts p where p.upload_id = u.id)
		where id = $1 returning in_progress_size`, id).Scan(&n)
	return n, Classify(err)
}

// UploadParts returns up to limit parts of an upload numbered after marker, by number.
// Rows a reference server added for re-uploaded numbers are collapsed to the latest.
func (t Tx) UploadParts(ctx context.Context, id string, marker, limit int) ([]UploadPart, error) {
	return collectParts(t.tx.Query(ctx, `select distinct on (part_number) `+partColumns+` from storage.s3_multipart_uploads_parts
		where upload_id = $1 and part_number > $2 order by part_number, created_at desc limit $3`, id, marker, limit))
}

// PartChecksums fills in the checksums of parts (by ID) from stowage.part_checksums. It is
// separate from UploadParts because that table is the service role's only: UploadParts
// also runs as the caller, whom the parts table's RLS decides about.
func (t Tx) PartChecksums(ctx context.Context, parts []UploadPart) error {
	if len(parts) == 0 {
		return nil
	}
	ids := make([]string, len(parts))
	for i, p := range parts {
		ids[i] = p.ID
	}
	rows, err := t.tx.Query(ctx, `select part_id::text, algorithm, checksum from stowage.part_checksums where part_id = any($1::uuid[])`, ids)
	if err != nil {
		return Classify(err)
	}
	type sum struct{ id, alg, value string }
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sum, error) {
		var s sum
		err := r.Scan(&s.id, &s.alg, &s.value)
		return s, err
	})
	if err != nil {
		return Classify(err)
	}
	byID := make(map[string]sum, len(list))
	for _, s := range list {
		byID[s.id] = s
	}
	for i := range parts {
		if s, ok := byID[parts[i].ID]; ok {
			parts[i].ChecksumAlgorithm, parts[i].Checksum = s.alg, s.value
		}
	}
	return nil
}

// DeleteUpload removes an upload and (by cascade) its parts, returning the parts it held.
func (t Tx) DeleteUpload(ctx context.Context, id string) ([]UploadPart, error) {
	parts, err := collectParts(t.tx.Query(ctx, `select `+partColumns+` from storage.s3_multipart_uploads_parts where upload_id = $1`, id))
	if err != nil {
		return nil, err
	}
	tag, err := t.tx.Exec(ctx, `delete from storage.s3_multipart_uploads where id = $1`, id)
	if err != nil {
		return nil, Classify(err)
	}
	if tag.RowsAffected() == 0 {
		return nil, ErrNotFound
	}
	return parts, nil
}

// ExpiredUploads locks up to limit uploads created before cutoff, skipping uploads
// another node is sweeping (or a request is completing) right now, and resumable uploads
// (those with a stowage.tus_uploads row: they expire by that row).
func (t Tx) ExpiredUploads(ctx context.Context, cutoff time.Time, limit int) ([]Upload, error) {
	rows, err := t.tx.Query(ctx, `select `+uploadColumns+` from storage.s3_multipart_uploads u
		where created_at < $1
		  and not exists (select 1 from stowage.tus_uploads t where t.upload_id = u.id)
		order by created_at limit $2 for update skip locked`, cutoff, limit)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Upload, error) { return scanUpload(r) })
	return out, Classify(err)
}

// UploadListing is one entry of ListUploads: an upload, or a common prefix (Prefix true,
// Key the prefix, ID and CreatedAt of its earliest upload).
type UploadListing struct {
	Key       string
	ID        string
	CreatedAt time.Time
	Prefix    bool
}

// ListUploads lists the uploads of bucket whose key starts with prefix (a byte prefix, not
// a LIKE pattern), collapsing keys with delimiter after the prefix into common prefixes,
// ordered by key, initiation time and id, after the (keyMarker, uploadIDMarker) position
// as S3 pages: with only a key marker everything up to and including that key (or prefix)
// is skipped; with both, the key's uploads initiated up to the marker upload are skipped.
func (t Tx) ListUploads(ctx context.Context, bucket, prefix, delimiter, keyMarker, uploadIDMarker string, limit int) ([]UploadListing, error) {
	const q = `with src as (
			select coalesce(storage.get_common_prefix(u.key, $2, $3), u.key) as k,
				storage.get_common_prefix(u.key, $2, $3) is not null as collapsed,
				u.id, u.created_at
			from storage.s3_multipart_uploads u
			where u.bucket_id = $1 and u.key collate "C" >= $2 and ($4 = '' or u.key collate "C" < $4)
		), entries as (
			(select distinct on (s.k collate "C") s.k, s.id, s.created_at, true as collapsed from src s
			 where s.collapsed order by s.k collate "C", s.created_at, s.id)
			union all
			select s.k, s.id, s.created_at, false from src s where not s.collapsed
		), marker as (
			select coalesce((select created_at from storage.s3_multipart_uploads where id = $6 and bucket_id = $1), '-infinity'::timestamptz) as at
		)
		select e.k::text, e.id, e.created_at, e.collapsed from entries e, marker m
		where $5 = '' or e.k collate "C" > $5
			or ($6 <> '' and not e.collapsed and e.k = $5 and (e.created_at, e.id collate "C") > (m.at, $6 collate "C"))
		order by e.k collate "C", e.created_at, e.id collate "C"
		limit $7`
	rows, err := t.tx.Query(ctx, q, bucket, prefix, delimiter, PrefixUpperBound(prefix), keyMarker, uploadIDMarker, limit)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UploadListing, error) {
		var l UploadListing
		err := r.Scan(&l.Key, &l.ID, &l.CreatedAt, &l.Prefix)
		return l, err
	})
	return out, Classify(err)
}

// UploadsByID reads the visible uploads among ids, keyed by id.
func (t Tx) UploadsByID(ctx context.Context, ids []string) (map[string]Upload, error) {
	out := make(map[string]Upload, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := t.tx.Query(ctx, `select `+uploadColumns+` from storage.s3_multipart_uploads where id = any($1)`, ids)
	if err != nil {
		return nil, Classify(err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Upload, error) { return scanUpload(r) })
	if err != nil {
		return nil, Classify(err)
	}
	for _, u := range list {
		out[u.ID] = u
	}
	return out, nil
}

// BucketUpload is an unfinished upload of a bucket; Tus is set when a resumable (TUS)
// upload owns it.
type BucketUpload struct {
	Upload
	Tus bool
}

// LockBucketUploads row-locks and returns every unfinished upload of bucket without
// waiting: ErrLocked when one is locked by a transaction in progress (a part commit, a
// completion, an abort), whose outcome the caller cannot know yet.
func (t Tx) LockBucketUploads(ctx context.Context, bucket string) ([]BucketUpload, error) {
	rows, err := t.tx.Query(ctx, `select `+uploadColumns+`,
			exists(select 1 from stowage.tus_uploads t where t.upload_id = u.id)
		from storage.s3_multipart_uploads u where u.bucket_id = $1 for update of u nowait`, bucket)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BucketUpload, error) {
		var b BucketUpload
		var um, m []byte
		err := r.Scan(&b.ID, &b.BucketID, &b.Key, &b.Version, &b.OwnerID, &b.InProgressSize, &b.Signature,
			&b.CreatedAt, &um, &m, &b.Tus)
		b.UserMetadata, b.Metadata = um, m
		return b, err
	})
	return out, Classify(err)
}

// LockBucketTusUploads row-locks and returns the resumable-upload rows of bucket (finished
// ones too) without waiting: ErrLocked when another transaction holds one.
func (t Tx) LockBucketTusUploads(ctx context.Context, bucket string) ([]TusUpload, error) {
	rows, err := t.tx.Query(ctx, `select `+tusColumns+` from stowage.tus_uploads
		where bucket_id = $1 for update nowait`, bucket)
	if err != nil {
		return nil, Classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TusUpload, error) { return scanTus(r) })
	return out, Classify(err)
}

// CompletedUpload is a stowage.completed_uploads row: the result of a completed multipart
// upload, kept for a while so that a repeated completion gets the same answer.
type CompletedUpload struct {
	UploadID, BucketID, Key string
	// PartsDigest identifies the completed part list.
	PartsDigest                          string
	Version                              string
	Size                                 int64
	ETag                                 string
	ChecksumAlgorithm, ChecksumType, Sum string
	CompletedAt                          time.Time
}

// RecordCompletedUpload stores c (in the completion's transaction).
func (t Tx) RecordCompletedUpload(ctx context.Context, c CompletedUpload) error {
	const q = `insert into stowage.completed_uploads (upload_id, bucket_id, key, parts_digest, version, size, etag,
			checksum_algorithm, checksum_type, checksum, completed_at)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		on conflict (upload_id) do nothing`
	_, err := t.tx.Exec(ctx, q, c.UploadID, c.BucketID, c.Key, c.PartsDigest, c.Version, c.Size, c.ETag,
		c.ChecksumAlgorithm, c.ChecksumType, c.Sum, c.CompletedAt)
	return Classify(err)
}

// GetCompletedUpload reads the completed upload id of bucket/key (ErrNotFound otherwise).
func (t Tx) GetCompletedUpload(ctx context.Context, bucket, key, id string) (CompletedUpload, error) {
	var c CompletedUpload
	err := t.tx.QueryRow(ctx, `select upload_id, bucket_id, key, parts_digest, version, size, etag,
			checksum_algorithm, checksum_type, checksum, completed_at
		from stowage.completed_uploads where upload_id = $1 and bucket_id = $2 and key = $3`, id, bucket, key).Scan(
		&c.UploadID, &c.BucketID, &c.Key, &c.PartsDigest, &c.Version, &c.Size, &c.ETag,
		&c.ChecksumAlgorithm, &c.ChecksumType, &c.Sum, &c.CompletedAt)
	return c, Classify(err)
}

// DeleteCompletedUploads forgets completed uploads finished before cutoff, at most limit
// of them, and returns how many went.
func (t Tx) DeleteCompletedUploads(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	tag, err := t.tx.Exec(ctx, `delete from stowage.completed_uploads where upload_id in (
		select upload_id from stowage.completed_uploads where completed_at < $1 limit $2)`, cutoff, limit)
	if err != nil {
		return 0, Classify(err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteBucketCompletedUploads forgets the completed uploads of bucket (it is being deleted).
func (t Tx) DeleteBucketCompletedUploads(ctx context.Context, bucket string) error {
	_, err := t.tx.Exec(ctx, `delete from stowage.completed_uploads where bucket_id = $1`, bucket)
	return Classify(err)
}
