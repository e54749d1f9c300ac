package db

import (
	"context"
	"encoding/json"
)

// BucketTags returns a bucket's tag set document; ErrNotFound when it has none.
func (t Tx) BucketTags(ctx context.Context, bucket string) (json.RawMessage, error) {
	var tags []byte
	err := t.tx.QueryRow(ctx, `select tags from stowage.bucket_tags where bucket_id = $1`, bucket).Scan(&tags)
	if err != nil {
		return nil, Classify(err)
	}
	return tags, nil
}

// SetBucketTags replaces a bucket's tag set document; nil removes it.
func (t Tx) SetBucketTags(ctx context.Context, bucket string, tags json.RawMessage) error {
	var err error
	if tags == nil {
		_, err = t.tx.Exec(ctx, `delete from stowage.bucket_tags where bucket_id = $1`, bucket)
	} else {
		_, err = t.tx.Exec(ctx, `insert into stowage.bucket_tags (bucket_id, tags) values ($1, $2::jsonb)
			on conflict (bucket_id) do update set tags = excluded.tags, updated_at = now()`, bucket, string(tags))
	}
	return Classify(err)
}
