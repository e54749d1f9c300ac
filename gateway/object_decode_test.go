package gateway

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stowage/stowage/db"
)

// metadataDocs are metadata documents as Postgres returns them (jsonb text: a space after
// each colon and comma, keys ordered by length) and as tests and older rows hold them.
var metadataDocs = []struct {
	doc  string
	fast bool // decodeMetadataFast takes it
}{
	{`{"eTag": "\"0123456789abcdef0123456789abcdef\"", "size": 4096, "checksum": "AAAAAA==", "mimetype": "application/octet-stream", "cacheControl": "max-age=3600", "lastModified": "2026-12-03T18:00:00.000Z", "contentLength": 4096, "httpStatusCode": 200, "checksumAlgorithm": "CRC32"}`, true},
	{`{"eTag": "\"e\"", "size": 0, "tags": [{"key": "a", "value": "1"}, {"key": "b/c", "value": ""}], "mimetype": "text/plain"}`, true},
	{`{"eTag": "\"e\"", "size": 7, "tags": [], "other": {"nested": [1, {"ETag": null}]}, "xRobotsTag": "none"}`, true},
	{`{"size": 1, "size": 2, "eTag": "a", "eTag": "b"}`, true}, // the last one wins
	{`{"contentDisposition": "attachment; filename=\"a b.txt\"", "contentEncoding": "gzip", "contentLanguage": "fr", "expires": "Thu, 01 Dec 2026 16:00:00 GMT", "checksumType": "COMPOSITE", "checksum": "AAAA-2"}`, true},
	{`{}`, true},
	{`{"ETag": "\"upper\"", "size": 1}`, false},     // encoding/json matches it case-insensitively
	{`{"eTag": null, "size": 1}`, false},            // null leaves the field as it was
	{`{"eTag": "\u00e9t\u00e9", "size": 1}`, false}, // \u escapes: left to encoding/json
	{`{"eTag": "e", "size": 1.5}`, false},
	{`{"eTag": "e", "size": "4096"}`, false},
	{`{"eTag": "e", "size": 99999999999999999999}`, false},
	{`{"eTag": "e", "tags": [{"Key": "a", "value": "1"}]}`, false},
	{`{"eTag": "e", "tags": [null]}`, false},
	{`{"eTag": "e", "tags": {"key": "a"}}`, false},
	{`{"eTag": "e", "httpStatusCode": true}`, false},
	{`null`, false},
	{`[1, 2]`, false},
	{`"str"`, false},
}

// TestDecodeMetadataFast: documents of the shapes Stowage and the reference write take the
// fast path and decode as encoding/json decodes them; the others are left to it.
func TestDecodeMetadataFast(t *testing.T) {
	for _, tc := range metadataDocs {
		var m systemMetadata
		var e Extra
		if got := decodeMetadataFast([]byte(tc.doc), &m, &e); got != tc.fast {
			t.Errorf("%s: fast path %v, want %v", tc.doc, got, tc.fast)
			continue
		}
		if tc.fast {
			checkLikeEncodingJSON(t, []byte(tc.doc), m, e)
		}
	}
	// Through objectFromRow, as a GET decodes a row.
	meta := buildMetadataExtra(5, `"abc"`, "text/plain", "no-cache", "noindex", time.Date(2026, 12, 3, 1, 2, 3, 4e6, time.UTC),
		Extra{ContentDisposition: "inline", ChecksumAlgorithm: "SHA256", Checksum: "x==", Tags: []Tag{{"k", "v"}}})
	o := objectFromRow(db.Object{Name: "k", Metadata: meta, UserMetadata: []byte("null")})
	if o.Size != 5 || o.ETag != `"abc"` || o.ContentType != "text/plain" || o.CacheControl != "no-cache" || o.XRobotsTag != "noindex" ||
		!o.LastModified.Equal(time.Date(2026, 12, 3, 1, 2, 3, 4e6, time.UTC)) || o.Extra.ContentDisposition != "inline" ||
		o.Extra.Checksum != "x==" || !reflect.DeepEqual(o.Extra.Tags, []Tag{{"k", "v"}}) {
		t.Fatalf("%+v", o)
	}
}

// FuzzDecodeMetadataFast: whenever the fast path takes a document (valid JSON, as jsonb
// text always is), encoding/json decodes it without error to the same values.
func FuzzDecodeMetadataFast(f *testing.F) {
	for _, tc := range metadataDocs {
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		var m systemMetadata
		var e Extra
		if decodeMetadataFast(doc, &m, &e) {
			checkLikeEncodingJSON(t, doc, m, e)
		}
	})
}

func checkLikeEncodingJSON(t *testing.T, doc []byte, m systemMetadata, e Extra) {
	t.Helper()
	var both metadataDoc
	if err := json.Unmarshal(doc, &both); err != nil {
		t.Fatalf("%s: the fast path took what encoding/json refuses: %v", doc, err)
	}
	if !reflect.DeepEqual(m, both.systemMetadata) || !reflect.DeepEqual(e, both.Extra) {
		t.Fatalf("%s:\nfast          %+v %+v\nencoding/json %+v %+v", doc, m, e, both.systemMetadata, both.Extra)
	}
}

// A document one half of which encoding/json refuses still gives the other half (a row
// written by another server, or edited by hand): readMetadata reads each half alone.
func TestReadMetadataHalves(t *testing.T) {
	for _, tc := range []struct {
		doc      string
		ok       bool // the reference half decoded
		size     int64
		checksum string
	}{
		{`{"size": 5, "checksum": "x==", "tags": "not a list"}`, true, 5, "x=="}, // the S3 half refused
		{`{"size": "five", "checksum": "x=="}`, false, 0, "x=="},                 // the reference half refused
		{`{"size": 5, "checksum": "x=="}`, true, 5, "x=="},
	} {
		var both metadataDoc
		refused := decodeMetadata([]byte(tc.doc), &both) != nil
		m, ok, extra := readMetadata([]byte(tc.doc))
		if ok != tc.ok || m.Size != tc.size || extra.Checksum != tc.checksum || refused == (tc.doc == `{"size": 5, "checksum": "x=="}`) {
			t.Errorf("%s: %+v, %v, %+v (whole document refused: %v)", tc.doc, m, ok, extra, refused)
		}
		o := objectFromRow(db.Object{Name: "k", Metadata: json.RawMessage(tc.doc)})
		if o.Size != tc.size || o.Extra.Checksum != tc.checksum {
			t.Errorf("%s through objectFromRow: size %d, checksum %q", tc.doc, o.Size, o.Extra.Checksum)
		}
	}
}
