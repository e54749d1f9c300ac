package gateway

import (
	"encoding/json"
	"time"
)

// Extra is what an object keeps beside the reference's system metadata so that S3 clients
// get back what they stored: representation headers, the checksum computed while the body
// streamed, and tags. It lives in the same storage.objects.metadata document under keys the
// reference does not use, so rows stay readable by the reference server.
type Extra struct {
	ContentDisposition string `json:"contentDisposition,omitempty"`
	ContentEncoding    string `json:"contentEncoding,omitempty"`
	ContentLanguage    string `json:"contentLanguage,omitempty"`
	// Expires is the Expires header value as the client sent it.
	Expires string `json:"expires,omitempty"`
	// ChecksumAlgorithm is CRC32, CRC32C, CRC64NVME, SHA1 or SHA256; Checksum its base64 value.
	ChecksumAlgorithm string `json:"checksumAlgorithm,omitempty"`
	Checksum          string `json:"checksum,omitempty"`
	// ChecksumType is COMPOSITE or FULL_OBJECT; "" is FULL_OBJECT (a single PUT). A
	// COMPOSITE Checksum ends in "-<part count>", as S3 returns it.
	ChecksumType string `json:"checksumType,omitempty"`
	// Tags are the object's tags in the order given (S3 object tagging).
	Tags []Tag `json:"tags,omitempty"`
}

// Tag is one object tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// headers returns e without checksum and tags: what S3's MetadataDirective=REPLACE replaces.
func (e Extra) headers() Extra {
	return Extra{ContentDisposition: e.ContentDisposition, ContentEncoding: e.ContentEncoding,
		ContentLanguage: e.ContentLanguage, Expires: e.Expires}
}

// buildMetadataExtra is buildMetadata plus the Extra keys.
func buildMetadataExtra(size int64, etag, mime, cacheControl, robots string, at time.Time, extra Extra) json.RawMessage {
	b, _ := json.Marshal(struct {
		systemMetadata
		Extra
	}{systemMetadata{ETag: etag, Size: size, Mimetype: mime, CacheControl: cacheControl,
		LastModified: at.UTC().Format(isoMillis), ContentLength: size, HTTPStatusCode: 200, XRobotsTag: robots}, extra})
	return b
}

// extraFromMetadata reads the Extra keys of a metadata document; unknown shapes are ignored.
func extraFromMetadata(raw json.RawMessage) Extra {
	var e Extra
	_ = json.Unmarshal(raw, &e)
	return e
}
