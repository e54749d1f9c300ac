package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/stowage/stowage/db"
)

// Conditions are HTTP preconditions on an object (RFC 9110 §13, as S3 evaluates them):
// If-Match and If-Unmodified-Since fail with CodePreconditionFailed, If-None-Match and
// If-Modified-Since with CodeNotModified (reads) — for copy sources every failure is
// CodePreconditionFailed. Zero fields are absent.
type Conditions struct {
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   time.Time
	IfUnmodifiedSince time.Time
}

// Check evaluates c against o in S3's order: If-Match wins over If-Unmodified-Since, and
// If-None-Match over If-Modified-Since.
func (c Conditions) Check(o Object) error {
	modified := o.LastModified.Truncate(time.Second)
	failed := &Error{Code: CodePreconditionFailed, Bucket: o.Bucket, Key: o.Key}
	switch {
	case c.IfMatch != "":
		if !etagListMatches(c.IfMatch, o.ETag) {
			return failed
		}
	case !c.IfUnmodifiedSince.IsZero() && modified.After(c.IfUnmodifiedSince):
		return failed
	}
	notModified := &Error{Code: CodeNotModified, Bucket: o.Bucket, Key: o.Key}
	switch {
	case c.IfNoneMatch != "":
		if etagListMatches(c.IfNoneMatch, o.ETag) {
			return notModified
		}
	case !c.IfModifiedSince.IsZero() && !modified.After(c.IfModifiedSince):
		return notModified
	}
	return nil
}

// CheckCopySource is Check for x-amz-copy-source-if-*: S3 answers 412 for every failure.
func (c Conditions) CheckCopySource(o Object) error {
	err := c.Check(o)
	if CodeOf(err) == CodeNotModified {
		return &Error{Code: CodePreconditionFailed, Bucket: o.Bucket, Key: o.Key}
	}
	return err
}

// etagListMatches reports whether a comma-separated list of entity tags (quoted or not, W/
// ignored, "*" for any) names etag.
func etagListMatches(list, etag string) bool {
	want := strings.Trim(etag, `"`)
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimPrefix(strings.TrimSpace(item), "W/")
		if item == "*" || strings.Trim(item, `"`) == want {
			return true
		}
	}
	return false
}

// WriteConditions are S3's conditional writes on the destination key (PutObject,
// CompleteMultipartUpload, CopyObject). The engine checks them once before any byte moves
// (a cheap early refusal) and again inside the commit transaction, after the per-key
// advisory lock and the row lock: of two writers racing with If-None-Match: *, exactly one
// commits and the other gets CodePreconditionFailed, its bytes removed. Zero fields are
// absent.
type WriteConditions struct {
	// IfAbsent (If-None-Match: *) writes only when no object exists at the key.
	IfAbsent bool
	// IfMatch (If-Match) writes only over an object whose ETag is in this list ("*" for
	// any object): CodePreconditionFailed when it differs, CodeNoSuchKey when there is no
	// object, as S3 answers.
	IfMatch string
}

// set reports whether any condition is present.
func (w WriteConditions) set() bool { return w.IfAbsent || w.IfMatch != "" }

// check evaluates w against the destination's current object (found false: none).
func (w WriteConditions) check(bucket, key string, cur Object, found bool) error {
	switch {
	case w.IfAbsent && found:
		return &Error{Code: CodePreconditionFailed, Bucket: bucket, Key: key}
	case w.IfMatch != "" && !found:
		return &Error{Code: CodeNoSuchKey, Bucket: bucket, Key: key}
	case w.IfMatch != "" && !etagListMatches(w.IfMatch, cur.ETag):
		return &Error{Code: CodePreconditionFailed, Bucket: bucket, Key: key}
	}
	return nil
}

// checkRow is check against the row of bucket/key as tx sees it. Callers run it after
// the caller's preflight decided it may write there.
func (w WriteConditions) checkRow(ctx context.Context, tx db.Tx, bucket, key string) error {
	if !w.set() {
		return nil
	}
	row, err := tx.GetObject(ctx, bucket, key)
	if errors.Is(err, db.ErrNotFound) {
		return w.check(bucket, key, Object{}, false)
	}
	if err != nil {
		return err
	}
	return w.check(bucket, key, objectFromRow(row), true)
}

// precheckWrite is WriteConditions' early check in a transaction of its own, before a
// copy or a multipart assembly moves bytes; the commit checks again.
func (e *Engine) precheckWrite(ctx context.Context, c Caller, bucket, key string, w WriteConditions) error {
	if !w.set() {
		return nil
	}
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error { return w.checkRow(ctx, tx, bucket, key) })
	return dbErr(err, CodeNoSuchBucket, bucket, key)
}
