package s3backend

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/gateway/backend"
)

// Copy is a server-side CopyObject (the object's headers come along); a source past 5 GiB,
// CopyObject's limit, is copied as a multipart upload of UploadPartCopy ranges.
func (s *Store) Copy(ctx context.Context, srcKey, dstKey string) (backend.Written, error) {
	dk, err := s.objectKey(dstKey)
	if err != nil {
		return backend.Written{}, err
	}
	src, err := s.head(ctx, srcKey)
	if err != nil {
		return backend.Written{}, err
	}
	if src.size > maxPartSize {
		opts := backend.PutOptions{Size: src.size, ContentType: src.contentType, CacheControl: src.cacheControl}
		return s.copyParts(ctx, dk, []source{src}, opts)
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	_, err = s.client.CopyObject(cctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: dk, CopySource: s.copySource(src.key)})
	if err != nil {
		return backend.Written{}, s.mapErr(ctx, "copy", srcKey, err)
	}
	return backend.Written{Size: src.size}, nil
}

// Compose writes dst as the concatenation of srcs. When every source but the last holds at
// least 5 MiB (S3's minimum part), it is done upstream: a CopyObject for a single source, a
// multipart upload of UploadPartCopy parts otherwise. Smaller sources cannot be parts, so
// then the bytes stream through the gateway (source after source, one GetObject open at a
// time) into a Put: correct and memory-bounded, but not server-side.
func (s *Store) Compose(ctx context.Context, dst string, srcs []string, opts backend.PutOptions) (backend.Written, error) {
	dk, err := s.objectKey(dst)
	if err != nil {
		return backend.Written{}, err
	}
	var (
		nonEmpty []source
		total    int64
	)
	for _, key := range srcs {
		src, err := s.head(ctx, key)
		if err != nil {
			return backend.Written{}, err
		}
		total += src.size
		if src.size > 0 {
			nonEmpty = append(nonEmpty, src)
		}
	}
	if opts.Size >= 0 && opts.Size != total {
		return backend.Written{}, fmt.Errorf("s3backend: compose %q: %w: sources hold %d bytes, %d declared",
			dst, backend.ErrSizeMismatch, total, opts.Size)
	}
	opts.Size = total
	switch {
	case len(nonEmpty) == 1 && total <= maxPartSize:
		cctx, cancel := s.callContext(ctx)
		defer cancel()
		_, err := s.client.CopyObject(cctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: dk,
			CopySource: s.copySource(nonEmpty[0].key), MetadataDirective: types.MetadataDirectiveReplace,
			ContentType: optional(opts.ContentType), CacheControl: optional(opts.CacheControl)})
		if err != nil {
			return backend.Written{}, s.mapErr(ctx, "compose", dst, err)
		}
		return backend.Written{Size: total}, nil
	case len(nonEmpty) > 1 && composable(nonEmpty):
		return s.copyParts(ctx, dk, nonEmpty, opts)
	}
	keys := make([]string, len(nonEmpty))
	for i, src := range nonEmpty {
		keys[i] = src.key
	}
	// The Concat lives only as long as this call (its Ctx is the call's).
	r := &backend.Concat{Ctx: ctx, Store: s, Keys: keys}
	defer r.Close()
	return s.Put(ctx, dst, r, opts)
}

// source is an existing blob being copied.
type source struct {
	key                       string // the store's key (without Prefix)
	size                      int64
	contentType, cacheControl string
}

func (s *Store) head(ctx context.Context, key string) (source, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return source{}, err
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	out, err := s.client.HeadObject(cctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: k})
	if err != nil {
		return source{}, s.mapErr(ctx, "head", key, err)
	}
	return source{key: key, size: aws.ToInt64(out.ContentLength),
		contentType: aws.ToString(out.ContentType), cacheControl: aws.ToString(out.CacheControl)}, nil
}

// composable reports whether srcs can be the parts of one upload: every part but the last
// at least 5 MiB, at most 10,000 parts once large sources are split into ranges.
func composable(srcs []source) bool {
	parts := 0
	for i, src := range srcs {
		if i < len(srcs)-1 && src.size < minPartSize {
			return false
		}
		parts += len(copyRanges(src.size))
	}
	return parts <= maxParts
}

// copyRanges splits size bytes into near-equal ranges of at most copyPartSize. Each range of
// a split source is over copyPartSize/2, so well above S3's 5 MiB minimum.
func copyRanges(size int64) [][2]int64 {
	n := (size + copyPartSize - 1) / copyPartSize
	step := (size + n - 1) / n
	var out [][2]int64
	for off := int64(0); off < size; off += step {
		out = append(out, [2]int64{off, min(off+step, size) - 1})
	}
	return out
}

// copyParts assembles dk upstream from srcs with UploadPartCopy, aborting on any failure.
func (s *Store) copyParts(ctx context.Context, dk *string, srcs []source, opts backend.PutOptions) (backend.Written, error) {
	id, err := s.createUpload(ctx, dk, opts)
	if err != nil {
		return backend.Written{}, err
	}
	var parts []types.CompletedPart
	num := int32(0)
	for _, src := range srcs {
		for _, r := range copyRanges(src.size) {
			num++
			etag, err := s.copyPart(ctx, dk, id, num, src, r)
			if err != nil {
				s.abort(ctx, dk, id)
				return backend.Written{}, err
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: aws.String(etag)})
		}
	}
	if err := s.complete(ctx, dk, id, parts); err != nil {
		s.abort(ctx, dk, id)
		return backend.Written{}, err
	}
	return backend.Written{Size: opts.Size}, nil
}

func (s *Store) copyPart(ctx context.Context, dk *string, id string, num int32, src source, r [2]int64) (string, error) {
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	out, err := s.client.UploadPartCopy(cctx, &s3.UploadPartCopyInput{Bucket: &s.bucket, Key: dk, UploadId: &id,
		PartNumber: aws.Int32(num), CopySource: s.copySource(src.key),
		CopySourceRange: aws.String("bytes=" + strconv.FormatInt(r[0], 10) + "-" + strconv.FormatInt(r[1], 10))})
	if err != nil {
		return "", s.mapErr(ctx, "upload part copy", src.key, err)
	}
	if out.CopyPartResult == nil {
		return "", fmt.Errorf("s3backend: upload part copy %q: no CopyPartResult in the answer", src.key)
	}
	return aws.ToString(out.CopyPartResult.ETag), nil
}

// copySource is the x-amz-copy-source of key: "<bucket>/<key>" URL-encoded. Everything but
// unreserved characters and "/" is percent-encoded: servers differ in whether they decode
// "+" as a space, so nothing ambiguous is left.
func (s *Store) copySource(key string) *string {
	k := s.prefix + key
	var b strings.Builder
	b.WriteString(s.bucket)
	b.WriteByte('/')
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	out := b.String()
	return &out
}
