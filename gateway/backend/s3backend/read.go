package s3backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/gateway/backend"
)

// Open streams the selected bytes with a GetObject whose Range header is r. The body is the
// upstream response body: the caller's context keeps governing it while it is read, so only
// the wait for the response headers is bounded by the store's timeout.
func (s *Store) Open(ctx context.Context, key string, r backend.Range) (io.ReadCloser, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return nil, err
	}
	h := rangeHeader(r)
	if s.direct != nil {
		body, ok, err := s.direct.get(ctx, *k, h)
		if err != nil {
			return nil, s.mapErr(ctx, "get", key, err)
		}
		if ok {
			return body, nil
		}
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: k}
	if h != "" {
		in.Range = &h
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, s.mapErr(ctx, "get", key, err)
	}
	return out.Body, nil
}

// rangeHeader is the HTTP Range of r; "" for the whole blob. S3 cuts a range that runs past
// the end, as the contract wants.
func rangeHeader(r backend.Range) string {
	switch {
	case r.Offset <= 0 && r.Length <= 0:
		return ""
	case r.Length <= 0:
		return "bytes=" + strconv.FormatInt(r.Offset, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(r.Offset, 10) + "-" + strconv.FormatInt(r.Offset+r.Length-1, 10)
}

// Stat is a HeadObject.
func (s *Store) Stat(ctx context.Context, key string) (backend.Info, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return backend.Info{}, err
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	out, err := s.client.HeadObject(cctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: k})
	if err != nil {
		return backend.Info{}, s.mapErr(ctx, "head", key, err)
	}
	return backend.Info{Size: aws.ToInt64(out.ContentLength)}, nil
}

// deleteBatch is S3's limit of keys per DeleteObjects.
const deleteBatch = 1000

// Delete removes keys: one DeleteObject for a single key, DeleteObjects batches otherwise.
// Missing keys are not an error (S3 reports none for them).
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	ids := make([]types.ObjectIdentifier, 0, len(keys))
	for _, key := range keys {
		k, err := s.objectKey(key)
		if err != nil {
			return err
		}
		ids = append(ids, types.ObjectIdentifier{Key: k})
	}
	if len(ids) == 1 {
		cctx, cancel := s.callContext(ctx)
		defer cancel()
		if s.direct != nil {
			ok, err := s.direct.del(cctx, *ids[0].Key)
			if err != nil {
				return s.mapErr(ctx, "delete", keys[0], err)
			}
			if ok {
				return nil
			}
		}
		_, err := s.client.DeleteObject(cctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: ids[0].Key})
		// A key the upstream cannot hold (ErrInvalidKey) holds nothing to delete either.
		if err = s.mapErr(ctx, "delete", keys[0], err); errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrInvalidKey) {
			return nil
		}
		return err
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), deleteBatch)]
		ids = ids[len(batch):]
		if err := s.deleteObjects(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) deleteObjects(ctx context.Context, batch []types.ObjectIdentifier) error {
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	out, err := s.client.DeleteObjects(cctx, &s3.DeleteObjectsInput{Bucket: &s.bucket,
		Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)}})
	if err != nil {
		return s.mapErr(ctx, "delete objects", aws.ToString(batch[0].Key), err)
	}
	var errs []error
	for _, e := range out.Errors {
		if c := aws.ToString(e.Code); c == "NoSuchKey" || c == "XMinioInvalidObjectName" {
			continue
		}
		errs = append(errs, fmt.Errorf("s3backend: delete %q: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message)))
	}
	return errors.Join(errs...)
}
