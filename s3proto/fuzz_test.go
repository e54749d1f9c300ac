package s3proto

import (
	"errors"
	"strings"
	"testing"

	"github.com/stowage/stowage/gateway"
)

// FuzzDeleteXML: any body decodes or fails without panicking, and never yields more entries
// than <Object> elements it contains.
func FuzzDeleteXML(f *testing.F) {
	f.Add([]byte(`<Delete><Quiet>true</Quiet><Object><Key>a</Key><VersionId>v</VersionId></Object></Delete>`))
	f.Add([]byte(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;b</Key></Object></Delete>`))
	f.Add([]byte(`<Delete><Object>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d deleteRequest
		if err := decodeXML(data, &d); err != nil {
			return
		}
		if len(d.Objects) > strings.Count(string(data), "Object") {
			t.Fatalf("%d objects from %q", len(d.Objects), data)
		}
	})
}

// FuzzTaggingXML: decoding never panics; whatever decodes is validated by the engine's
// rules with a typed error.
func FuzzTaggingXML(f *testing.F) {
	f.Add([]byte(`<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`))
	f.Add([]byte(`<Tagging><TagSet><Tag><Key></Key></Tag></TagSet></Tagging>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tg tagging
		if err := decodeXML(data, &tg); err != nil {
			return
		}
		tags := make([]gateway.Tag, len(tg.TagSet))
		for i, x := range tg.TagSet {
			tags[i] = gateway.Tag{Key: x.Key, Value: x.Value}
		}
		if err := gateway.ValidateTags(tags); err != nil && gateway.CodeOf(err) != gateway.CodeInvalidArgument {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// FuzzTaggingHeader: x-amz-tagging parses into valid tags or a typed error.
func FuzzTaggingHeader(f *testing.F) {
	f.Add("a=1&b=2")
	f.Add("a=1&a=2")
	f.Add("%zz=1")
	f.Fuzz(func(t *testing.T, v string) {
		tags, err := taggingHeader(v)
		var se *s3Error
		switch {
		case err == nil:
			if gateway.ValidateTags(tags) != nil {
				t.Fatalf("invalid tags accepted: %v", tags)
			}
		case errors.As(err, &se), gateway.CodeOf(err) == gateway.CodeInvalidArgument:
		default:
			t.Fatalf("untyped error %v", err)
		}
	})
}

// FuzzCopySource: a parsed source always names a bucket and a key.
func FuzzCopySource(f *testing.F) {
	f.Add("/b/k%20x?versionId=null")
	f.Add("b")
	f.Fuzz(func(t *testing.T, v string) {
		b, k, _, err := parseCopySource(v)
		if err == nil && (b == "" || k == "") {
			t.Fatalf("%q parsed to %q %q", v, b, k)
		}
	})
}

// FuzzSplitPath: a path with a key always names a bucket.
func FuzzSplitPath(f *testing.F) {
	f.Add("/b/k")
	f.Add("//k")
	f.Fuzz(func(t *testing.T, raw string) {
		b, k, has, err := splitPath(raw)
		if err == nil && has && k == "" {
			t.Fatalf("%q: hasKey with empty key (bucket %q)", raw, b)
		}
	})
}
