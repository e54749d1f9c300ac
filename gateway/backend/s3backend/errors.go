package s3backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stowage/stowage/gateway/backend"
)

// mapErr turns an SDK error into the store's vocabulary, keeping the cause wrapped:
//   - a cancelled or expired caller context comes back as that context error;
//   - a missing key or upload (NoSuchKey, NoSuchUpload, a 404 HEAD) is backend.ErrNotFound;
//   - a key the upstream refuses to hold (MinIO: empty segments) is backend.ErrInvalidKey;
//   - an upstream that says it is full (MinIO's XMinioStorageFull, any 507) is
//     backend.ErrInsufficientStorage: retrying will not make room;
//   - anything that says the upstream cannot serve right now (no HTTP answer at all:
//     refused, reset, timed out; a 5xx or throttling answer; a missing upstream bucket,
//     which is an operator's mistake, not the client's) is backend.ErrUnavailable;
//   - other upstream answers (403 with wrong credentials, 400, ...) are plain errors.
//
// Errors from the caller's body are not mapped here: the body readers remember them.
func (s *Store) mapErr(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return fmt.Errorf("s3backend: %s %q: %w", op, key, err)
		}
		return fmt.Errorf("s3backend: %s %q: %w (%w)", op, key, cerr, err)
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var sentinel error
	switch {
	case code == "NoSuchKey" || code == "NoSuchUpload" || (code == "NotFound" && status == http.StatusNotFound):
		sentinel = backend.ErrNotFound
	case code == "XMinioInvalidObjectName" || code == "KeyTooLongError":
		// MinIO keeps objects as folders and refuses names S3 accepts (empty segments:
		// "a//b", a leading "/"): such a key cannot be stored on this upstream.
		return fmt.Errorf("s3backend: %s %q: %w (%w)", op, key, backend.ErrInvalidKey, err)
	case code == "XMinioStorageFull" || status == http.StatusInsufficientStorage:
		sentinel = backend.ErrInsufficientStorage
	case code == "NoSuchBucket":
		return fmt.Errorf("s3backend: %s %q: %w: upstream bucket %q does not exist (%w)", op, key, backend.ErrUnavailable, s.bucket, err)
	case status == 0, status >= 500, status == http.StatusTooManyRequests,
		code == "SlowDown", code == "RequestTimeout":
		sentinel = backend.ErrUnavailable
	case status == http.StatusNotFound && code == "":
		sentinel = backend.ErrNotFound
	default:
		return fmt.Errorf("s3backend: %s %q: %w", op, key, err)
	}
	return fmt.Errorf("s3backend: %s %q: %w (%w)", op, key, sentinel, err)
}
