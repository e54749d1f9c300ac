package gateway

import (
	"context"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/multipart"
)

// ObjectPart is one part of an object completed from a multipart upload.
type ObjectPart struct {
	Number int
	Size   int64
	// ChecksumAlgorithm and Checksum are the part's additional checksum, "" without one.
	ChecksumAlgorithm, Checksum string
}

// ObjectParts is a page of an object's parts (S3 GetObjectAttributes' ObjectParts).
type ObjectParts struct {
	// Total is the number of parts; 0 for an object that is not multipart (a plain
	// upload, or one written by a reference server), which has no part list.
	Total                int
	Parts                []ObjectPart
	NextPartNumberMarker int
	IsTruncated          bool
}

// ListObjectParts pages the parts of obj (as HeadObject returned it, so the caller's
// RLS SELECT has decided) numbered after marker, at most limit (1..1000) of them.
func (e *Engine) ListObjectParts(ctx context.Context, c Caller, obj Object, marker, limit int) (ObjectParts, error) {
	limit = min(max(limit, 1), MaxListParts)
	marker = min(max(marker, 0), multipart.MaxParts)
	var rows []db.ObjectPart
	var out ObjectParts
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		rows, out.Total, err = tx.ObjectParts(ctx, e.blobKey(obj.Bucket, obj.Key, obj.Version), marker, limit+1)
		return err
	})
	if err != nil {
		return ObjectParts{}, dbErr(err, CodeNoSuchKey, obj.Bucket, obj.Key)
	}
	if len(rows) > limit {
		rows, out.IsTruncated = rows[:limit], true
	}
	for _, p := range rows {
		out.Parts = append(out.Parts, ObjectPart{Number: p.PartNumber, Size: p.Size, ChecksumAlgorithm: p.ChecksumAlgorithm, Checksum: p.Checksum})
	}
	if len(out.Parts) > 0 {
		out.NextPartNumberMarker = out.Parts[len(out.Parts)-1].Number
	}
	return out, nil
}
