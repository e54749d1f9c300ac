package gateway

import (
	"strings"
	"time"
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
