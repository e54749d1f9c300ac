package db

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ObjectPart is a stowage.object_parts row: one part of an object completed from a
// multipart upload, under the blob key of the object's version.
type ObjectPart struct {
	PartNumber int
	Size       int64
	// ChecksumAlgorithm and Checksum are the part's additional checksum, "" without one.
	ChecksumAlgorithm, Checksum string
}

// RecordObjectParts stores the part layout of the blob key in one statement. It runs in
// the transaction that commits the object; a delete intent for key removes the rows again
// (AddIntent).
func (t Tx) RecordObjectParts(ctx context.Context, key string, parts []ObjectPart) error {
	if len(parts) == 0 {
		return nil
	}
	nums := make([]int32, len(parts))
	sizes := make([]int64, len(parts))
	algs := make([]string, len(parts))
	sums := make([]string, len(parts))
	for i, p := range parts {
		nums[i], sizes[i], algs[i], sums[i] = int32(p.PartNumber), p.Size, p.ChecksumAlgorithm, p.Checksum
	}
	const q = `insert into stowage.object_parts (blob_key, part_number, size, checksum_algorithm, checksum)
		select $1, n, s, nullif(a, ''), nullif(c, '') from unnest($2::int[], $3::bigint[], $4::text[], $5::text[]) as p(n, s, a, c)
		on conflict (blob_key, part_number) do update set size = excluded.size,
			checksum_algorithm = excluded.checksum_algorithm, checksum = excluded.checksum`
	_, err := t.tx.Exec(ctx, q, key, nums, sizes, algs, sums)
	return Classify(err)
}

// CopyObjectParts gives the blob dst the part layout of the blob src (a copied or moved
// object keeps the multipart ETag, so it keeps the parts that ETag counts).
func (t Tx) CopyObjectParts(ctx context.Context, src, dst string) error {
	const q = `insert into stowage.object_parts (blob_key, part_number, size, checksum_algorithm, checksum)
		select $2, part_number, size, checksum_algorithm, checksum from stowage.object_parts where blob_key = $1
		on conflict (blob_key, part_number) do nothing`
	_, err := t.tx.Exec(ctx, q, src, dst)
	return Classify(err)
}

// ObjectParts returns up to limit parts of the blob key numbered after marker, by number,
// and how many parts it has in all (0: not a multipart object).
func (t Tx) ObjectParts(ctx context.Context, key string, marker, limit int) ([]ObjectPart, int, error) {
	var total int
	if err := t.tx.QueryRow(ctx, `select count(*) from stowage.object_parts where blob_key = $1`, key).Scan(&total); err != nil {
		return nil, 0, Classify(err)
	}
	if total == 0 || limit <= 0 {
		return nil, total, nil
	}
	rows, err := t.tx.Query(ctx, `select part_number, size, coalesce(checksum_algorithm, ''), coalesce(checksum, '')
		from stowage.object_parts where blob_key = $1 and part_number > $2 order by part_number limit $3`, key, marker, limit)
	if err != nil {
		return nil, 0, Classify(err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ObjectPart, error) {
		var p ObjectPart
		err := r.Scan(&p.PartNumber, &p.Size, &p.ChecksumAlgorithm, &p.Checksum)
		return p, err
	})
	return parts, total, Classify(err)
}

// PartRange locates part n of the blob key: how many parts the object has (0: not a
// multipart object), and the offset and size of part n (found false when there is no
// part n).
func (t Tx) PartRange(ctx context.Context, key string, n int) (count int, offset, size int64, found bool, err error) {
	r, err := t.Part(ctx, key, n)
	return r.Count, r.Offset, r.Size, r.Found, err
}

// PartLocation is where part n of an object lies (PartRange), with the part's checksum.
type PartLocation struct {
	Count        int // parts of the object; 0: not a multipart object
	Offset, Size int64
	Found        bool   // false when the object has no part n
	Checksum     string // the part's additional checksum, "" without one
}

// Part is PartRange with the part's checksum.
func (t Tx) Part(ctx context.Context, key string, n int) (PartLocation, error) {
	const q = `select count(*), coalesce(sum(size) filter (where part_number < $2), 0)::bigint,
			(array_agg(size) filter (where part_number = $2))[1],
			coalesce((array_agg(checksum) filter (where part_number = $2))[1], '')
		from stowage.object_parts where blob_key = $1`
	var (
		out PartLocation
		sz  *int64
	)
	if err := t.tx.QueryRow(ctx, q, key, n).Scan(&out.Count, &out.Offset, &sz, &out.Checksum); err != nil {
		return PartLocation{}, Classify(err)
	}
	if sz == nil {
		return PartLocation{Count: out.Count}, nil
	}
	out.Size, out.Found = *sz, true
	return out, nil
}
