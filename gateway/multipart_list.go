package gateway

import (
	"context"

	"github.com/stowage/stowage/db"
)

// ListParts is the input of Engine.ListParts.
type ListParts struct {
	Bucket, Key, UploadID string
	// PartNumberMarker lists parts numbered after it.
	PartNumberMarker int
	// MaxParts is the page size, 1..MaxListParts (others mean MaxListParts).
	MaxParts int
}

// PartList is a page of an upload's parts.
type PartList struct {
	Upload               MultipartUpload
	Parts                []Part
	IsTruncated          bool
	NextPartNumberMarker int
}

func pageSize(n int) int {
	if n <= 0 || n > MaxListParts {
		return MaxListParts
	}
	return n
}

// ListParts lists an upload's parts by number. The upload is looked up as the service
// role, the parts through the caller's role, as the reference does: the parts table has
// RLS without policies, so only callers that bypass RLS see parts.
func (e *Engine) ListParts(ctx context.Context, c Caller, in ListParts) (PartList, error) {
	u, err := e.findUpload(ctx, c, in.Bucket, in.Key, in.UploadID)
	if err != nil {
		return PartList{}, err
	}
	limit := pageSize(in.MaxParts)
	var rows []db.UploadPart
	err = e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		rows, err = tx.UploadParts(ctx, u.ID, max(in.PartNumberMarker, 0), limit+1)
		return err
	})
	if err != nil {
		return PartList{}, dbErr(err, CodeNoSuchUpload, in.Bucket, in.Key)
	}
	// The checksums table is the service role's; the caller already saw these rows.
	err = e.db.InTx(ctx, e.service(c), func(tx db.Tx) error { return tx.PartChecksums(ctx, rows) })
	if err != nil {
		return PartList{}, dbErr(err, CodeNoSuchUpload, in.Bucket, in.Key)
	}
	out := PartList{Upload: uploadFromRow(u)}
	if len(rows) > limit {
		rows, out.IsTruncated = rows[:limit], true
	}
	for _, p := range rows {
		out.Parts = append(out.Parts, Part{Number: p.PartNumber, ETag: p.ETag, Size: p.Size, LastModified: p.CreatedAt,
			ChecksumAlgorithm: p.ChecksumAlgorithm, Checksum: p.Checksum})
	}
	if len(rows) > 0 {
		out.NextPartNumberMarker = rows[len(rows)-1].PartNumber
	}
	return out, nil
}

// ListMultipartUploads is the input of Engine.ListMultipartUploads.
type ListMultipartUploads struct {
	Bucket                    string
	Prefix, Delimiter         string
	KeyMarker, UploadIDMarker string
	// MaxUploads is the page size, 1..MaxListParts (others mean MaxListParts).
	MaxUploads int
}

// UploadList is a page of a bucket's uploads in progress, ordered by key, then initiation.
type UploadList struct {
	Uploads        []MultipartUpload
	CommonPrefixes []string
	IsTruncated    bool
	// NextKeyMarker and NextUploadIDMarker continue a truncated listing.
	NextKeyMarker, NextUploadIDMarker string
}

// ListMultipartUploads lists a bucket's uploads through the caller's role (RLS: the
// uploads table has no policies, so only callers that bypass RLS see uploads).
func (e *Engine) ListMultipartUploads(ctx context.Context, c Caller, in ListMultipartUploads) (UploadList, error) {
	if _, err := e.bucketAsService(ctx, c, in.Bucket); err != nil {
		return UploadList{}, err
	}
	if len(in.Prefix) > MaxKeyLen || len(in.Delimiter) > MaxKeyLen || len(in.KeyMarker) > MaxKeyLen || !validMarker(in.UploadIDMarker) {
		return UploadList{}, &Error{Code: CodeInvalidArgument, Bucket: in.Bucket, Message: "prefix, delimiter or marker too long"}
	}
	limit := pageSize(in.MaxUploads)
	var rows []db.UploadListing
	var uploads map[string]db.Upload
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		var err error
		rows, err = tx.ListUploads(ctx, in.Bucket, in.Prefix, in.Delimiter, in.KeyMarker, in.UploadIDMarker, limit+1)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(rows))
		for _, r := range rows {
			if !r.Prefix {
				ids = append(ids, r.ID)
			}
		}
		uploads, err = tx.UploadsByID(ctx, ids)
		return err
	})
	if err != nil {
		return UploadList{}, dbErr(err, CodeNoSuchBucket, in.Bucket, "")
	}
	var out UploadList
	if len(rows) > limit {
		rows, out.IsTruncated = rows[:limit], true
	}
	for _, r := range rows {
		if r.Prefix {
			out.CommonPrefixes = append(out.CommonPrefixes, r.Key)
			continue
		}
		if u, ok := uploads[r.ID]; ok {
			out.Uploads = append(out.Uploads, uploadFromRow(u))
		}
	}
	if out.IsTruncated && len(rows) > 0 {
		last := rows[len(rows)-1]
		out.NextKeyMarker = last.Key
		if !last.Prefix {
			out.NextUploadIDMarker = last.ID
		}
	}
	return out, nil
}

func validMarker(s string) bool { return len(s) <= 1024 }
