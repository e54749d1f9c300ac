package gateway

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// metadataDoc is an object's metadata document as the engine reads it: the reference's
// half and the S3 half (Extra), whose keys differ.
type metadataDoc struct {
	systemMetadata
	Extra
}

// decodeMetadata decodes doc into *d as encoding/json does (d is zero), with the fast path
// where the document's shape allows it; the error is encoding/json's.
func decodeMetadata(doc []byte, d *metadataDoc) error {
	if decodeMetadataFast(doc, &d.systemMetadata, &d.Extra) {
		return nil
	}
	*d = metadataDoc{} // what the fast path set before it gave up
	return json.Unmarshal(doc, d)
}

// readMetadata decodes both halves of doc in one go; a document of an unexpected shape is
// read again per half, as each half alone allows. ok reports whether the reference half
// decoded (m may hold part of it when it did not).
func readMetadata(doc []byte) (m systemMetadata, ok bool, extra Extra) {
	var both metadataDoc // the one value that escapes (to encoding/json): m is read into it too
	if decodeMetadata(doc, &both) == nil {
		return both.systemMetadata, true, both.Extra
	}
	both = metadataDoc{}
	ok = json.Unmarshal(doc, &both.systemMetadata) == nil
	return both.systemMetadata, ok, extraFromMetadata(doc)
}

// parsers are fastjson parsers to reuse (a Parser is not safe for concurrent use).
var parsers sync.Pool

// metadataKeys are the keys of the metadata document that objectFromRow reads.
var metadataKeys = []string{"eTag", "size", "mimetype", "cacheControl", "lastModified", "contentLength",
	"httpStatusCode", "xRobotsTag", "contentDisposition", "contentEncoding", "contentLanguage", "expires",
	"checksumAlgorithm", "checksum", "checksumType", "tags"}

// decodeMetadataFast decodes an object's metadata document (Postgres jsonb text, so valid
// JSON) into m and e as encoding/json does, in a fifth of its time (a GET or HEAD decodes one per
// request). It handles the documents Stowage and the reference write: an object whose keys
// of interest hold strings, integers or a tags array. It returns false, leaving the work to
// encoding/json, for anything where the two might differ: a key matching one of ours only
// case-insensitively, a null or a value of another type, a \u escape, bytes that are not
// UTF-8. FuzzDecodeMetadataFast holds it to encoding/json's result.
func decodeMetadataFast(doc []byte, m *systemMetadata, e *Extra) bool {
	if bytes.Contains(doc, []byte(`\u`)) || !utf8.Valid(doc) {
		return false
	}
	p, _ := parsers.Get().(*fastjson.Parser)
	if p == nil {
		p = new(fastjson.Parser)
	}
	defer parsers.Put(p)
	v, err := p.ParseBytes(doc)
	if err != nil || v.Type() != fastjson.TypeObject {
		return false
	}
	o, _ := v.Object()
	ok := true
	o.Visit(func(k []byte, v *fastjson.Value) {
		if !ok {
			return
		}
		str := func(dst *string) {
			if ok = v.Type() == fastjson.TypeString; ok {
				*dst = string(v.GetStringBytes())
			}
		}
		num := func(dst *int64) {
			n, err := v.Int64()
			if ok = v.Type() == fastjson.TypeNumber && err == nil; ok {
				*dst = n
			}
		}
		switch string(k) {
		case "eTag":
			str(&m.ETag)
		case "size":
			num(&m.Size)
		case "mimetype":
			str(&m.Mimetype)
		case "cacheControl":
			str(&m.CacheControl)
		case "lastModified":
			str(&m.LastModified)
		case "contentLength":
			num(&m.ContentLength)
		case "httpStatusCode":
			var n int64
			if num(&n); ok {
				m.HTTPStatusCode = int(n)
			}
		case "xRobotsTag":
			str(&m.XRobotsTag)
		case "contentDisposition":
			str(&e.ContentDisposition)
		case "contentEncoding":
			str(&e.ContentEncoding)
		case "contentLanguage":
			str(&e.ContentLanguage)
		case "expires":
			str(&e.Expires)
		case "checksumAlgorithm":
			str(&e.ChecksumAlgorithm)
		case "checksum":
			str(&e.Checksum)
		case "checksumType":
			str(&e.ChecksumType)
		case "tags":
			e.Tags, ok = decodeTagsFast(v)
		default:
			for _, name := range metadataKeys {
				if bytes.EqualFold(k, []byte(name)) {
					ok = false // encoding/json would match it case-insensitively
				}
			}
		}
	})
	return ok
}

// decodeTagsFast decodes an array of {"key": string, "value": string} objects; false for
// any other shape.
func decodeTagsFast(v *fastjson.Value) ([]Tag, bool) {
	items, err := v.Array()
	if err != nil {
		return nil, false
	}
	tags := make([]Tag, len(items))
	for i, item := range items {
		o, err := item.Object()
		if err != nil {
			return nil, false
		}
		ok := true
		o.Visit(func(k []byte, v *fastjson.Value) {
			s, err := v.StringBytes()
			switch {
			case !ok:
			case err != nil:
				ok = false
			case string(k) == "key":
				tags[i].Key = string(s)
			case string(k) == "value":
				tags[i].Value = string(s)
			default:
				ok = false // encoding/json ignores other keys, but may match "Key" or "VALUE"
			}
		})
		if !ok {
			return nil, false
		}
	}
	return tags, true
}
