package gateway

import (
	"encoding/json"
	"time"

	"github.com/stowage/stowage/db"
)

// Object describes a stored object.
type Object struct {
	ID             string
	Bucket         string
	Key            string
	Version        string
	Size           int64
	ETag           string // quoted, e.g. "\"5eb63b...\""
	ContentType    string
	CacheControl   string
	LastModified   time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastAccessedAt time.Time
	Owner          string
	OwnerID        string
	// UserMetadata is the client-supplied JSON (nil when none was stored).
	UserMetadata json.RawMessage
	// Metadata is the system metadata JSON as stored.
	Metadata json.RawMessage
	// XRobotsTag is the per-object X-Robots-Tag value, "" when none was stored.
	XRobotsTag string
	// Extra holds the S3 headers, checksum and tags stored with the object.
	Extra Extra
	// VersionID is S3's version id in a versioned bucket ("" in a never-versioned one);
	// DeleteMarker is set on the result of a delete that wrote or removed a delete marker.
	VersionID    string
	DeleteMarker bool
	// Expiration is when a lifecycle rule expires the object (S3's x-amz-expiration), nil
	// when none applies or it was not looked up.
	Expiration *Expiration
}

// systemMetadata is the reference's storage.objects.metadata document (camelCase keys).
type systemMetadata struct {
	ETag           string `json:"eTag"`
	Size           int64  `json:"size"`
	Mimetype       string `json:"mimetype"`
	CacheControl   string `json:"cacheControl"`
	LastModified   string `json:"lastModified"`
	ContentLength  int64  `json:"contentLength"`
	HTTPStatusCode int    `json:"httpStatusCode"`
	XRobotsTag     string `json:"xRobotsTag,omitempty"`
}

// isoMillis is the reference's timestamp format.
const isoMillis = "2006-01-02T15:04:05.000Z"

func objectFromRow(r db.Object) Object {
	o := Object{ID: r.ID, Bucket: r.BucketID, Key: r.Name, Version: r.Version, CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt, LastAccessedAt: r.LastAccessedAt, Owner: r.Owner, OwnerID: r.OwnerID,
		UserMetadata: r.UserMetadata, Metadata: r.Metadata, LastModified: r.UpdatedAt}
	// One decoding of the document for both halves (a listing page decodes 1,000 of them).
	m, ok, extra := readMetadata(r.Metadata)
	o.Extra = extra
	if ok {
		o.Size, o.ETag, o.ContentType, o.CacheControl, o.XRobotsTag = m.Size, m.ETag, m.Mimetype, m.CacheControl, m.XRobotsTag
		if t, err := time.Parse(time.RFC3339Nano, m.LastModified); err == nil {
			o.LastModified = t
		}
	}
	if string(o.UserMetadata) == "null" {
		o.UserMetadata = nil
	}
	return o
}

func buildMetadata(size int64, etag, mime, cacheControl, robots string, at time.Time) json.RawMessage {
	b, _ := json.Marshal(systemMetadata{ETag: etag, Size: size, Mimetype: mime, CacheControl: cacheControl,
		LastModified: at.UTC().Format(isoMillis), ContentLength: size, HTTPStatusCode: 200, XRobotsTag: robots})
	return b
}
