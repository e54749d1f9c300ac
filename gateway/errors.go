package gateway

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/stowage/stowage/gateway/backend"
)

// Code classifies engine errors. Each dialect maps every Code exactly once to its wire form,
// and a test in each dialect fails when a Code lacks an entry.
type Code int

// The engine's error codes.
const (
	CodeInternal Code = iota
	CodeNoSuchBucket
	CodeNoSuchKey
	CodeNoSuchUpload
	CodeBucketAlreadyExists
	CodeKeyAlreadyExists
	CodeBucketNotEmpty
	CodeForbidden
	CodeInvalidBucketName
	CodeInvalidKey
	CodeInvalidMimeType
	CodeTooLarge
	CodeInvalidRange
	CodeInvalidArgument
	CodeIncompleteBody
	CodeLocked
	CodeUnavailable
	CodeDatabaseError
	CodeBadDigest
	CodePreconditionFailed
	CodeNotModified
	CodeInvalidPart
	CodeInvalidPartOrder
	CodeEntityTooSmall
	CodeConflict // the request no longer matches the resource's state (a stale TUS offset)
	CodeGone     // the resource existed but expired (a TUS upload URL)
	// CodeInsufficientStorage: the store has no room (full disk or quota, read-only file
	// system, a full upstream). Not a client mistake, and not worth an immediate retry.
	CodeInsufficientStorage
	// CodeBucketAlreadyOwnedByYou: S3's CreateBucket of a bucket the caller owns.
	CodeBucketAlreadyOwnedByYou
	// CodeDatabaseTimeout: the database did not answer in time, is unreachable or going
	// away, or made the transaction fail in a retryable way; nothing was committed.
	// (CodeUnavailable is the store's outage.)
	CodeDatabaseTimeout
	// CodeResourceReferenced: a bucket delete refused because unfinished S3 multipart
	// uploads still reference the bucket (the dialect did not ask to abort them).
	CodeResourceReferenced
	// CodeNoSuchVersion: a versionId that names no version of the key (S3 NoSuchVersion).
	CodeNoSuchVersion
	// CodeMethodNotAllowed: a read of a delete marker by its version id (S3's 405).
	CodeMethodNotAllowed
	// CodeNoSuchLifecycle: a bucket without lifecycle rules (S3 NoSuchLifecycleConfiguration).
	CodeNoSuchLifecycle
	// CodeTooManyConnections: Postgres refused a connection (53300); the reference's
	// 429 SlowDown.
	CodeTooManyConnections
	numCodes
)

// NumCodes is the number of codes, for the dialects' completeness tests.
const NumCodes = int(numCodes)

var codeNames = [...]string{
	CodeInternal:                "Internal",
	CodeNoSuchBucket:            "NoSuchBucket",
	CodeNoSuchKey:               "NoSuchKey",
	CodeNoSuchUpload:            "NoSuchUpload",
	CodeBucketAlreadyExists:     "BucketAlreadyExists",
	CodeKeyAlreadyExists:        "KeyAlreadyExists",
	CodeBucketNotEmpty:          "BucketNotEmpty",
	CodeForbidden:               "Forbidden",
	CodeInvalidBucketName:       "InvalidBucketName",
	CodeInvalidKey:              "InvalidKey",
	CodeInvalidMimeType:         "InvalidMimeType",
	CodeTooLarge:                "TooLarge",
	CodeInvalidRange:            "InvalidRange",
	CodeInvalidArgument:         "InvalidArgument",
	CodeIncompleteBody:          "IncompleteBody",
	CodeLocked:                  "Locked",
	CodeUnavailable:             "Unavailable",
	CodeDatabaseError:           "DatabaseError",
	CodeBadDigest:               "BadDigest",
	CodePreconditionFailed:      "PreconditionFailed",
	CodeNotModified:             "NotModified",
	CodeInvalidPart:             "InvalidPart",
	CodeInvalidPartOrder:        "InvalidPartOrder",
	CodeEntityTooSmall:          "EntityTooSmall",
	CodeConflict:                "Conflict",
	CodeGone:                    "Gone",
	CodeInsufficientStorage:     "InsufficientStorage",
	CodeBucketAlreadyOwnedByYou: "BucketAlreadyOwnedByYou",
	CodeDatabaseTimeout:         "DatabaseTimeout",
	CodeResourceReferenced:      "ResourceReferenced",
	CodeNoSuchVersion:           "NoSuchVersion",
	CodeMethodNotAllowed:        "MethodNotAllowed",
	CodeNoSuchLifecycle:         "NoSuchLifecycle",
	CodeTooManyConnections:      "TooManyConnections",
}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Error is the one error type the engine returns to dialects.
type Error struct {
	Code        Code
	Bucket, Key string
	// Message is safe to show clients; empty means the dialect's default for Code.
	Message string
	// Err is the cause: logged, never shown to clients.
	Err error
	// DeleteMarker and VersionID describe the version an error is about (S3's
	// x-amz-delete-marker and x-amz-version-id on a 404 or 405): see versioning.go.
	DeleteMarker bool
	VersionID    string
}

func (e *Error) Error() string {
	s := e.Code.String()
	if e.Bucket != "" {
		s += " " + e.Bucket
		if e.Key != "" {
			s += "/" + e.Key
		}
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the engine code of err, CodeInternal for foreign errors.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

func newErr(code Code, bucket, key string, cause error) *Error {
	return &Error{Code: code, Bucket: bucket, Key: key, Err: cause}
}

func errMsg(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// insufficientStorage reports a store without room for bucket/key. Its Message names the
// condition (the errno's text: "no space left on device", "disk quota exceeded", "read-only
// file system") and never the host path, which stays in Err for the log.
func insufficientStorage(err error, bucket, key string) *Error {
	why := "the storage backend is full"
	var errno syscall.Errno
	if errors.As(err, &errno) {
		why = errno.Error()
	}
	return &Error{Code: CodeInsufficientStorage, Bucket: bucket, Key: key, Message: "Insufficient storage: " + why, Err: err}
}

// isInsufficientStorage reports whether a store error is a full or read-only store.
func isInsufficientStorage(err error) bool { return errors.Is(err, backend.ErrInsufficientStorage) }
