package s3backend

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/gateway/backend"
)

// StartUpload creates an upstream multipart upload for key: the upstream keeps the parts and
// assembles them, so the engine moves no part bytes twice.
func (s *Store) StartUpload(ctx context.Context, key string, opts backend.PutOptions) (string, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return "", err
	}
	return s.createUpload(ctx, k, opts)
}

// PutPart streams part n (1..10000) of size bytes straight to the upstream. An unknown
// upload is backend.ErrNotFound.
func (s *Store) PutPart(ctx context.Context, key, uploadID string, n int, body io.Reader, size int64) (string, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return "", err
	}
	if n < 1 || n > maxParts || size < 0 {
		return "", fmt.Errorf("s3backend: part %d of %d bytes is outside S3's limits", n, size)
	}
	er := &exactReader{r: body, left: size}
	if size == 0 {
		if _, err := er.Read(nil); err != nil && err != io.EOF {
			return "", fmt.Errorf("s3backend: upload part %q: %w", key, err)
		}
	}
	return s.uploadPart(ctx, k, uploadID, int32(n), er, size)
}

// FinishUpload completes the upload with parts in the order given and reports the size of
// the assembled blob.
func (s *Store) FinishUpload(ctx context.Context, key, uploadID string, parts []backend.Part) (backend.Written, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return backend.Written{}, err
	}
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
	}
	if err := s.complete(ctx, k, uploadID, done); err != nil {
		return backend.Written{}, err
	}
	info, err := s.Stat(ctx, key)
	return backend.Written{Size: info.Size}, err
}

// AbortUpload removes the upload and its parts. An unknown upload is backend.ErrNotFound.
func (s *Store) AbortUpload(ctx context.Context, key, uploadID string) error {
	k, err := s.objectKey(key)
	if err != nil {
		return err
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	_, err = s.client.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: k, UploadId: &uploadID})
	return s.mapErr(ctx, "abort multipart upload", key, err)
}

// PartETag returns the upstream's ETag of part n of the upload ("" when it has no such
// part). An unknown upload is backend.ErrNotFound.
func (s *Store) PartETag(ctx context.Context, key, uploadID string, n int) (string, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return "", err
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	out, err := s.client.ListParts(cctx, &s3.ListPartsInput{Bucket: &s.bucket, Key: k, UploadId: &uploadID,
		PartNumberMarker: aws.String(fmt.Sprint(n - 1)), MaxParts: aws.Int32(1)})
	if err != nil {
		return "", s.mapErr(ctx, "list parts", key, err)
	}
	if len(out.Parts) == 0 || aws.ToInt32(out.Parts[0].PartNumber) != int32(n) {
		return "", nil
	}
	return aws.ToString(out.Parts[0].ETag), nil
}
