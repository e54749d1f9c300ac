package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/stowage/stowage/db"
)

// Tag limits (S3 object tagging).
const (
	MaxTags        = 10
	MaxTagKeyLen   = 128
	MaxTagValueLen = 256
)

// MaxBucketTags is S3's limit on a bucket's tags.
const MaxBucketTags = 50

// ValidateTags checks S3's object tag rules: at most 10, keys 1..128 and values 0..256
// characters, keys unique.
func ValidateTags(tags []Tag) error { return ValidateTagSet(tags, MaxTags) }

// ValidateTagSet is ValidateTags with at most max tags (MaxBucketTags for a bucket).
func ValidateTagSet(tags []Tag, max int) error {
	bad := func(msg string) error { return &Error{Code: CodeInvalidArgument, Message: msg} }
	if len(tags) > max {
		if max == MaxBucketTags {
			return bad(fmt.Sprintf("Bucket tag count cannot be greater than %d", max))
		}
		return bad(fmt.Sprintf("Object tags cannot be greater than %d", max))
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		switch {
		case t.Key == "" || utf8.RuneCountInString(t.Key) > MaxTagKeyLen || CheckText("", t.Key) != nil:
			return bad("The TagKey you have provided is invalid")
		case utf8.RuneCountInString(t.Value) > MaxTagValueLen || CheckText("", t.Value) != nil:
			return bad("The TagValue you have provided is invalid")
		case seen[t.Key]:
			return bad("Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

// SetObjectTags replaces an object's tags (nil or empty removes them). Only the metadata
// document's "tags" key changes: the object's bytes, version and other metadata stay. The
// object must be visible to the caller (else CodeNoSuchKey) and updatable by it under RLS
// (else CodeForbidden).
func (e *Engine) SetObjectTags(ctx context.Context, c Caller, bucket, key string, tags []Tag) (Object, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return Object{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Object{}, withObject(err, bucket, key)
	}
	if err := ValidateTags(tags); err != nil {
		return Object{}, err
	}
	var value json.RawMessage
	if len(tags) > 0 {
		value, _ = json.Marshal(tags)
	}
	var out db.Object
	err := e.db.InTx(ctx, c.scope(), func(tx db.Tx) error {
		if _, err := tx.GetObject(ctx, bucket, key); err != nil {
			return err
		}
		var err error
		out, err = tx.SetObjectMetadataKey(ctx, bucket, key, "tags", value)
		if errors.Is(err, db.ErrNotFound) {
			// Visible but hidden from UPDATE's USING clause: a policy said no.
			return &Error{Code: CodeForbidden, Bucket: bucket, Key: key, Message: "Access denied", Err: err}
		}
		if err != nil || !e.opts.Events {
			return err
		}
		s3Name := S3EventTagging
		if len(tags) == 0 {
			s3Name = S3EventTaggingDelete
		}
		return tx.AsRole(ctx, c.scope(), e.service(c), func(stx db.Tx) error {
			return e.emit(ctx, stx, outboxEvent{refType: EventObjectUpdatedMetadata, s3Name: s3Name,
				bucket: out.BucketID, name: out.Name, version: out.Version, meta: out.Metadata})
		})
	})
	if err != nil {
		return Object{}, dbErr(err, CodeNoSuchKey, bucket, key)
	}
	return objectFromRow(out), nil
}

// BucketTags returns the tags of a bucket the caller may see; nil when it has none.
func (e *Engine) BucketTags(ctx context.Context, c Caller, bucket string) ([]Tag, error) {
	var raw json.RawMessage
	err := e.readBucketSetting(ctx, c, bucket, func(stx db.Tx) error {
		var err error
		raw, err = stx.BucketTags(ctx, bucket)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var tags []Tag
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &tags)
	}
	return tags, nil
}

// SetBucketTags replaces a bucket's tags (at most MaxBucketTags; nil or empty removes them).
// The caller must see the bucket (else CodeNoSuchBucket) and be allowed to update it under
// RLS (else CodeForbidden): the same rule as UpdateBucket, whose updated_at it bumps.
func (e *Engine) SetBucketTags(ctx context.Context, c Caller, bucket string, tags []Tag) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	if err := ValidateTagSet(tags, MaxBucketTags); err != nil {
		return err
	}
	var value json.RawMessage
	if len(tags) > 0 {
		value, _ = json.Marshal(tags)
	}
	return e.writeBucketSetting(ctx, c, bucket, func(stx db.Tx) error {
		return stx.SetBucketTags(ctx, bucket, value)
	})
}
