package rest

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// User metadata and headers that Postgres cannot store (a NUL, invalid UTF-8) answer 400
// InvalidRequest in the reference's envelope, not 500 DatabaseError; x-metadata or a form
// metadata field that is not a JSON object answers 400 instead of being dropped silently.
// Nothing is stored either way.
func TestBadMetadata(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("meta", nil)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	stored := envelope{http: 400, statusCode: "400", code: "InvalidRequest"}
	notObject := func(msg string) envelope {
		return envelope{http: 400, statusCode: "400", code: "InvalidRequest", message: msg}
	}
	xmeta := "Invalid x-metadata header: it must be base64 of a JSON object"
	for _, tc := range []struct {
		name    string
		headers []string
		want    envelope
		tag     string // the envelope's error field
	}{
		{"NUL escape", []string{"x-metadata", b64(`{"a":"\u0000"}`)}, stored, "InvalidRequest"},
		{"NUL escape in a key", []string{"x-metadata", b64(`{"\u0000":"a"}`)}, stored, "InvalidRequest"},
		{"invalid UTF-8", []string{"x-metadata", b64("{\"a\":\"\xff\xfe\"}")}, stored, "InvalidRequest"},
		{"unpaired surrogate", []string{"x-metadata", b64(`{"a":"\ud800"}`)}, stored, "InvalidRequest"},
		{"not JSON", []string{"x-metadata", b64(`{"a":`)}, notObject(xmeta), "invalid_metadata"},
		{"JSON but not an object", []string{"x-metadata", b64(`["a"]`)}, notObject(xmeta), "invalid_metadata"},
		{"not base64", []string{"x-metadata", "%%%"}, notObject(xmeta), "invalid_metadata"},
		{"Cache-Control with invalid UTF-8", []string{"Cache-Control", "max-age=\xff"}, stored, "InvalidRequest"},
	} {
		// The fixture fails the parent test: no subtests here.
		t.Log(tc.name)
		key := "bad-" + strings.ReplaceAll(tc.name, " ", "-")
		r := f.do("POST", "/object/meta/"+key, f.service, "x", append([]string{"Content-Type", "text/plain"}, tc.headers...)...)
		f.checkError(r, tc.want)
		if e := r.json(t); e["error"] != tc.tag {
			t.Fatalf("error tag %v, want %s", e["error"], tc.tag)
		}
		f.checkError(f.do("GET", "/object/info/meta/"+key, f.service, nil), envelope{http: 400, statusCode: "404", code: "NoSuchKey"})
	}

	{ // signed upload URL
		f.checkError(f.do("POST", "/object/upload/sign/meta/s.txt", f.service, "{}", "Content-Type", "application/json",
			"x-metadata", b64(`{"a":"\u0000"}`)), stored)
		f.checkError(f.do("POST", "/object/upload/sign/meta/s.txt", f.service, "{}", "Content-Type", "application/json",
			"x-metadata", "e30-"), notObject(xmeta))
	}
	{ // copy
		f.put("meta", "src.txt", "x")
		body := map[string]any{"bucketId": "meta", "sourceKey": "src.txt", "destinationKey": "dst.txt", "copyMetadata": false}
		f.checkError(f.do("POST", "/object/copy", f.service, body, "x-metadata", b64(`{"a":"\u0000"}`)), stored)
		f.checkError(f.do("POST", "/object/copy", f.service, body, "x-metadata", b64("nope")), notObject(xmeta))
	}
	{ // form fields
		for i, tc := range []struct {
			fields [][2]string
			want   envelope
		}{
			{[][2]string{{"metadata", `{"a":"\u0000"}`}}, stored},
			{[][2]string{{"metadata", `not json`}}, notObject("Invalid metadata field: it must be a JSON object")},
			{[][2]string{{"userMetadata", `42`}}, notObject("Invalid userMetadata field: it must be a JSON object")},
			{[][2]string{{"cacheControl", "1\x00"}}, stored},
			{[][2]string{{"contentType", "text/plain\x00"}}, stored},
		} {
			body, ct := formBody(t, tc.fields, "text/plain", strings.NewReader("x"))
			key := fmt.Sprintf("form-%d.txt", i)
			f.checkError(f.do("POST", "/object/meta/"+key, f.service, body, "Content-Type", ct), tc.want)
			f.checkError(f.do("GET", "/object/info/meta/"+key, f.service, nil), envelope{http: 400, statusCode: "404", code: "NoSuchKey"})
		}
	}
	{ // unpadded and URL-safe base64 still accepted
		for i, v := range []string{base64.RawStdEncoding.EncodeToString([]byte(`{"k":"v"}`)), base64.URLEncoding.EncodeToString([]byte(`{"k":"??>"}`))} {
			key := fmt.Sprintf("ok-%d.txt", i)
			f.must(f.do("POST", "/object/meta/"+key, f.service, "x", "Content-Type", "text/plain", "x-metadata", v), 200)
			info := f.must(f.do("GET", "/object/info/meta/"+key, f.service, nil), 200).json(t)
			if info["metadata"] == nil || len(info["metadata"].(map[string]any)) != 1 {
				t.Fatalf("metadata of %s: %v", v, info["metadata"])
			}
		}
	}
}
