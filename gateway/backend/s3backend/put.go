package s3backend

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/gateway/backend"
)

// bodyCall is the per-call option of every call that carries a body: the body is sent as
// UNSIGNED-PAYLOAD (hashing it first would mean reading it twice) and never retried (a
// streamed body is spent by the first attempt).
func bodyCall(o *s3.Options) {
	o.Retryer = aws.NopRetryer{}
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// Put streams body to the object key. Known size: one PutObject straight from body (a
// multipart upload of streamed slices past 5 GiB). Unknown size: see putUnknown. S3 makes a
// PUT visible only once its whole body arrived, so a failed Put leaves nothing under key.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, opts backend.PutOptions) (backend.Written, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return backend.Written{}, err
	}
	if err := ctx.Err(); err != nil {
		return backend.Written{}, fmt.Errorf("s3backend: put %q: %w", key, err)
	}
	switch {
	case opts.Size < 0:
		return s.putUnknown(ctx, k, body, opts)
	case opts.Size > s.singlePutMax:
		return s.putLarge(ctx, k, body, opts)
	}
	er := &exactReader{r: body, left: opts.Size}
	sum, err := s.putObject(ctx, k, er, opts.Size, opts)
	if err != nil {
		return backend.Written{}, err
	}
	return backend.Written{Size: opts.Size, MD5: sum}, nil
}

// ProvidesMD5 implements backend.MD5Provider: a Put of known size up to the single-PUT limit
// is one PutObject, whose ETag is the MD5 of its body (unless the upstream encrypts with
// SSE-KMS or SSE-C; once such an answer was seen, the store stops promising). Unknown sizes
// and multipart uploads (ETag "<md5 of md5s>-<n>") leave the hashing to the engine.
func (s *Store) ProvidesMD5(opts backend.PutOptions) bool {
	return opts.Size >= 0 && opts.Size <= s.singlePutMax && !s.etagNotMD5.Load()
}

// etagMD5 is the MD5 digest a PutObject's answer names, nil when its ETag is not a plain
// MD5 of the body.
func (s *Store) etagMD5(out *s3.PutObjectOutput) []byte {
	etag := strings.Trim(aws.ToString(out.ETag), `"`)
	sse := out.ServerSideEncryption
	if len(etag) == 2*md5.Size && out.SSECustomerAlgorithm == nil &&
		sse != types.ServerSideEncryptionAwsKms && sse != types.ServerSideEncryptionAwsKmsDsse {
		if sum, err := hex.DecodeString(etag); err == nil {
			return sum
		}
	}
	s.etagNotMD5.Store(true)
	return nil
}

// putObject sends one PutObject and returns the body's MD5 as the upstream's ETag names it
// (nil when it does not). body is an *exactReader or a *bytes.Reader of size bytes.
func (s *Store) putObject(ctx context.Context, k *string, body io.Reader, size int64, opts backend.PutOptions) ([]byte, error) {
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: k, ContentLength: aws.Int64(size),
		ContentType: optional(opts.ContentType), CacheControl: optional(opts.CacheControl)}
	if size > 0 {
		in.Body = body
	} else if er, ok := body.(*exactReader); ok {
		// An empty PUT reads no body, so look for unexpected bytes (or a failing body) first.
		if _, err := er.Read(nil); err != nil && err != io.EOF {
			return nil, fmt.Errorf("s3backend: put %q: %w", *k, err)
		}
	}
	var out *s3.PutObjectOutput
	var err error
	if s.direct != nil {
		out, err = s.direct.put(ctx, *k, in.Body, size, objectHeaders(opts))
	} else {
		out, err = s.client.PutObject(ctx, in, bodyCall)
	}
	if err != nil {
		return nil, s.bodyErr(ctx, "put", *k, body, err)
	}
	return s.etagMD5(out), nil
}

// objectHeaders are the object headers of a direct PutObject.
func objectHeaders(opts backend.PutOptions) map[string]string {
	h := make(map[string]string, 2)
	if opts.ContentType != "" {
		h["Content-Type"] = opts.ContentType
	}
	if opts.CacheControl != "" {
		h["Cache-Control"] = opts.CacheControl
	}
	return h
}

// bodyErr prefers the failure of the caller's body (what the engine must see: the client's
// broken upload, not a store failure) over the SDK's report of it.
func (s *Store) bodyErr(ctx context.Context, op, key string, body io.Reader, err error) error {
	if err == nil {
		return nil
	}
	if er, ok := body.(*exactReader); ok && er.err != nil {
		return fmt.Errorf("s3backend: %s %q: %w", op, key, er.err)
	}
	return s.mapErr(ctx, op, key, err)
}

// putUnknown stores a body of unknown size. The first part buffer decides: a body that ends
// inside it is one PutObject; a longer one becomes a multipart upload whose next part is
// read while the previous one uploads, so an upload holds at most two part buffers. Any
// failure aborts the upstream upload.
func (s *Store) putUnknown(ctx context.Context, k *string, body io.Reader, opts backend.PutOptions) (backend.Written, error) {
	buf := s.getBuf()
	n, err := io.ReadFull(body, *buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		s.putBuf(buf)
		return backend.Written{}, fmt.Errorf("s3backend: put %q: %w", *k, err)
	}
	if n < len(*buf) {
		defer s.putBuf(buf)
		sum, err := s.putObject(ctx, k, bytes.NewReader((*buf)[:n]), int64(n), opts)
		return backend.Written{Size: int64(n), MD5: sum}, err
	}
	id, err := s.createUpload(ctx, k, opts)
	if err != nil {
		s.putBuf(buf)
		return backend.Written{}, err
	}
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The upload owns at most two buffers, recycled between its parts (not through the pool,
	// which a garbage collection may empty): one uploading, one filling.
	type result struct {
		part types.CompletedPart
		buf  *[]byte
		err  error
	}
	var (
		parts    []types.CompletedPart
		total    int64
		inflight chan result
		spare    *[]byte
	)
	defer func() {
		if spare != nil {
			s.putBuf(spare)
		}
	}()
	wait := func() error {
		if inflight == nil {
			return nil
		}
		r := <-inflight
		inflight, spare = nil, r.buf
		if r.err == nil {
			parts = append(parts, r.part)
		}
		return r.err
	}
	fail := func(buf *[]byte, err error) (backend.Written, error) {
		if buf != nil {
			s.putBuf(buf)
		}
		cancel()
		_ = wait()
		s.abort(ctx, k, id)
		return backend.Written{}, err
	}
	for num := int32(1); ; num++ {
		if err := wait(); err != nil {
			return fail(buf, err)
		}
		if num > maxParts {
			return fail(buf, fmt.Errorf("s3backend: put %q: body exceeds %d parts of %d bytes", *k, maxParts, s.partSize))
		}
		ch := make(chan result, 1)
		go func(num int32, b *[]byte, n int) {
			etag, err := s.uploadPart(uctx, k, id, num, bytes.NewReader((*b)[:n]), int64(n))
			ch <- result{types.CompletedPart{PartNumber: aws.Int32(num), ETag: aws.String(etag)}, b, err}
		}(num, buf, n)
		inflight = ch
		total += int64(n)
		if n < len(*buf) {
			break
		}
		if buf, spare = spare, nil; buf == nil {
			buf = s.getBuf()
		}
		n, err = io.ReadFull(body, *buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return fail(buf, fmt.Errorf("s3backend: put %q: %w", *k, err))
		}
		if n == 0 {
			s.putBuf(buf)
			break
		}
	}
	if err := wait(); err != nil {
		return fail(nil, err)
	}
	if err := s.complete(ctx, k, id, parts); err != nil {
		s.abort(ctx, k, id)
		return backend.Written{}, err
	}
	return backend.Written{Size: total}, nil
}

// putLarge stores a known-size body past the single-PUT limit as a multipart upload whose
// parts are consecutive slices of body, streamed (nothing buffered).
func (s *Store) putLarge(ctx context.Context, k *string, body io.Reader, opts backend.PutOptions) (backend.Written, error) {
	partSize := max(s.partSize, (opts.Size+maxParts-1)/maxParts)
	id, err := s.createUpload(ctx, k, opts)
	if err != nil {
		return backend.Written{}, err
	}
	er := &exactReader{r: body, left: opts.Size}
	var parts []types.CompletedPart
	for num, off := int32(1), int64(0); off < opts.Size; num++ {
		n := min(partSize, opts.Size-off)
		etag, err := s.uploadPart(ctx, k, id, num, &partReader{er: er, left: n}, n)
		if err != nil {
			s.abort(ctx, k, id)
			if er.err != nil {
				return backend.Written{}, fmt.Errorf("s3backend: put %q: %w", *k, er.err)
			}
			return backend.Written{}, err
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: aws.String(etag)})
		off += n
	}
	if err := s.complete(ctx, k, id, parts); err != nil {
		s.abort(ctx, k, id)
		return backend.Written{}, err
	}
	return backend.Written{Size: opts.Size}, nil
}

// partReader is the next left bytes of a shared exactReader.
type partReader struct {
	er   *exactReader
	left int64
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.er.Read(b)
	p.left -= int64(n)
	if err == io.EOF && p.left == 0 {
		err = nil
	}
	return n, err
}

func (s *Store) createUpload(ctx context.Context, k *string, opts backend.PutOptions) (string, error) {
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	out, err := s.client.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: k,
		ContentType: optional(opts.ContentType), CacheControl: optional(opts.CacheControl)})
	if err != nil {
		return "", s.mapErr(ctx, "create multipart upload", *k, err)
	}
	return aws.ToString(out.UploadId), nil
}

// uploadPart sends one part; body is an *exactReader, *partReader or *bytes.Reader.
func (s *Store) uploadPart(ctx context.Context, k *string, id string, num int32, body io.Reader, size int64) (string, error) {
	in := &s3.UploadPartInput{Bucket: &s.bucket, Key: k, UploadId: &id, PartNumber: aws.Int32(num),
		ContentLength: aws.Int64(size), Body: body}
	if size == 0 {
		in.Body = nil
	}
	out, err := s.client.UploadPart(ctx, in, bodyCall)
	if err != nil {
		if pr, ok := body.(*partReader); ok {
			body = pr.er
		}
		return "", s.bodyErr(ctx, "upload part", *k, body, err)
	}
	return aws.ToString(out.ETag), nil
}

func (s *Store) complete(ctx context.Context, k *string, id string, parts []types.CompletedPart) error {
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	_, err := s.client.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: k,
		UploadId: &id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return s.mapErr(ctx, "complete multipart upload", *k, err)
}

// abort removes an upstream multipart upload after a failure. The caller's context may be
// the reason for the failure (cancelled), so the abort is detached from it; if it fails
// too, the upload lingers until the bucket's AbortIncompleteMultipartUpload lifecycle rule
// (docs/backends.md).
func (s *Store) abort(ctx context.Context, k *string, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: k, UploadId: &id})
}

// exactReader passes exactly left bytes of r. When r ends early, runs past left, or fails,
// it fails without handing out the bytes it holds, so the upstream never receives a
// complete body and stores nothing. It reads r to its end before releasing the last bytes:
// verifying readers (signatures, checksums) report their verdict at the end.
type exactReader struct {
	r    io.Reader
	left int64
	done bool  // r was read to its end
	err  error // the first failure: r's own error or a wrapped backend.ErrSizeMismatch
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		if !e.done {
			if err := e.probeEnd(nil); err != nil {
				return 0, err
			}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left == 0:
		if err := e.probeEnd(err); err != nil {
			return 0, err
		}
		return n, nil
	case err == io.EOF:
		e.err = fmt.Errorf("%w: body ended %d bytes early", backend.ErrSizeMismatch, e.left)
		return 0, e.err
	case err != nil:
		e.err = err
		return 0, err
	}
	return n, nil
}

// probeEnd checks that r has nothing after the declared size; last is the error of the read
// that reached it.
func (e *exactReader) probeEnd(last error) error {
	err := last
	var b [1]byte
	for i := 0; err == nil; i++ {
		if i == 100 {
			err = io.ErrNoProgress
			break
		}
		var n int
		n, err = e.r.Read(b[:])
		if n > 0 {
			err = fmt.Errorf("%w: body runs past the declared size", backend.ErrSizeMismatch)
		}
	}
	if errors.Is(err, io.EOF) && !errors.Is(err, backend.ErrSizeMismatch) {
		e.done = true
		return nil
	}
	e.err = err
	return err
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
