package db

import (
	"context"
	"encoding/json"
)

// SetObjectMetadataKey sets (or, with a nil value, removes) one top-level key of an object's
// metadata document without touching its version, bytes or other keys: object tags are
// written this way, so tagging never rewrites the object. ErrNotFound when no row the scope
// may update matched.
func (t Tx) SetObjectMetadataKey(ctx context.Context, bucket, name, key string, value json.RawMessage) (Object, error) {
	if value == nil {
		const q = `update storage.objects set metadata = coalesce(metadata, '{}'::jsonb) - $3::text
			where bucket_id = $1 and name = $2 returning ` + objectColumns
		return scanObject(t.tx.QueryRow(ctx, q, bucket, name, key))
	}
	const q = `update storage.objects set metadata = jsonb_set(coalesce(metadata, '{}'::jsonb), array[$3::text], $4::jsonb)
		where bucket_id = $1 and name = $2 returning ` + objectColumns
	return scanObject(t.tx.QueryRow(ctx, q, bucket, name, key, string(value)))
}
