package rest

import (
	"strings"
	"testing"

	"github.com/stowage/stowage/gateway"
)

func TestErrorTableComplete(t *testing.T) {
	t.Parallel()
	for c := gateway.Code(0); int(c) < gateway.NumCodes; c++ {
		e, ok := errorTable[c]
		if !ok {
			t.Errorf("code %v has no REST envelope", c)
			continue
		}
		if e.Code == "" || e.StatusCode == "" || e.Err == "" || e.HTTP == 0 {
			t.Errorf("code %v: incomplete envelope %+v", c, e)
		}
	}
}

// TestErrorEnvelopes pins the reference's HTTP status and envelope of each error a client
// can provoke (rest-api.md §0.5–0.8).
func TestErrorEnvelopes(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("errs", map[string]any{"file_size_limit": 10, "allowed_mime_types": []string{"image/*", "text/plain"}})
	f.bucket("priv", nil)
	f.put("errs", "exists.txt", "hello")
	user := f.user("7a1d6c1e-8a55-4a6b-a3c2-8f0f0a4a1b11")
	big := strings.Repeat("x", 11)
	cases := []struct {
		name    string
		method  string
		path    string
		key     string
		body    any
		headers []string
		want    envelope
	}{
		{"missing object", "GET", "/object/authenticated/errs/nope.txt", "svc", nil, nil, envelope{400, "404", "NoSuchKey", "Object not found"}},
		{"missing bucket", "GET", "/object/authenticated/nope/a.txt", "svc", nil, nil, envelope{400, "404", "NoSuchBucket", "Bucket not found"}},
		{"private bucket via public route", "GET", "/object/public/priv/a.txt", "", nil, nil, envelope{400, "404", "NoSuchBucket", ""}},
		{"private bucket without token", "GET", "/object/priv/a.txt", "", nil, nil, envelope{400, "404", "NoSuchBucket", ""}},
		{"duplicate key", "POST", "/object/errs/exists.txt", "svc", "abc", []string{"Content-Type", "text/plain"}, envelope{400, "409", "KeyAlreadyExists", "The resource already exists"}},
		{"duplicate bucket", "POST", "/bucket", "svc", map[string]any{"name": "errs"}, nil, envelope{400, "409", "BucketAlreadyExists", "The resource already exists"}},
		{"invalid bucket name", "POST", "/bucket", "svc", map[string]any{"name": "a/b"}, nil, envelope{400, "400", "InvalidBucketName", "Bucket name invalid"}},
		{"invalid key", "POST", "/object/errs/a%09b.txt", "svc", "abc", []string{"Content-Type", "text/plain"}, envelope{400, "400", "InvalidKey", "Invalid key: a\tb.txt"}},
		{"mime type not allowed", "POST", "/object/errs/a.bin", "svc", "abc", []string{"Content-Type", "application/pdf"}, envelope{400, "415", "InvalidMimeType", "mime type application/pdf is not supported"}},
		{"mime parameters not stripped", "POST", "/object/errs/a.txt", "svc", "abc", []string{"Content-Type", "text/plain;charset=UTF-8"}, envelope{400, "415", "InvalidMimeType", ""}},
		{"bucket size limit", "POST", "/object/errs/big.txt", "svc", big, []string{"Content-Type", "text/plain"}, envelope{400, "413", "EntityTooLarge", "The object exceeded the maximum allowed size"}},
		{"bucket limit over global", "POST", "/bucket", "svc", map[string]any{"name": "huge", "file_size_limit": "5GB"}, nil, envelope{400, "413", "EntityTooLarge", ""}},
		{"bad size format", "POST", "/bucket", "svc", map[string]any{"name": "fmt", "file_size_limit": "5 parsecs"}, nil, envelope{400, "400", "InvalidRequest", "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B"}},
		{"bad mime pattern", "POST", "/bucket", "svc", map[string]any{"name": "mimes", "allowed_mime_types": []string{"nonsense"}}, nil, envelope{400, "415", "InvalidMimeType", ""}},
		{"no authorization header", "POST", "/object/errs/x.txt", "", "abc", nil, envelope{400, "400", "InvalidRequest", "headers must have required property 'authorization'"}},
		{"garbage token", "GET", "/bucket", "garbage", nil, nil, envelope{400, "403", "AccessDenied", "Invalid Compact JWS"}},
		{"list-v2 without token", "POST", "/object/list-v2/errs", "", map[string]any{}, nil, envelope{400, "403", "AccessDenied", "Invalid Compact JWS"}},
		{"health without token", "GET", "/health", "", nil, nil, envelope{400, "403", "AccessDenied", "Invalid Compact JWS"}},
		{"empty bucket as user", "POST", "/bucket/errs/empty", "user", map[string]any{}, nil, envelope{403, "403", "AccessDenied", "Access denied: Invalid role"}},
		{"delete non-empty bucket", "DELETE", "/bucket/errs", "svc", map[string]any{}, nil, envelope{400, "409", "ResourceNotEmpty", "The bucket you tried to delete is not empty"}},
		{"get missing bucket", "GET", "/bucket/nope", "svc", nil, nil, envelope{400, "404", "NoSuchBucket", ""}},
		{"update without fields", "PUT", "/bucket/errs", "svc", map[string]any{"id": "errs"}, nil, envelope{400, "400", "InvalidRequest", "body must have at least 1 properties"}},
		{"invalid json", "POST", "/bucket", "svc", "{", []string{"Content-Type", "application/json"}, envelope{400, "400", "InvalidRequest", "Body is not valid JSON but content-type is set to 'application/json'"}},
		{"empty json body", "POST", "/bucket", "svc", "", []string{"Content-Type", "application/json"}, envelope{400, "400", "InvalidRequest", "Body cannot be empty when content-type is set to 'application/json'"}},
		{"list without prefix", "POST", "/object/list/errs", "svc", map[string]any{}, nil, envelope{400, "400", "InvalidRequest", "body must have required property 'prefix'"}},
		{"list bad sort column", "POST", "/object/list/errs", "svc", map[string]any{"prefix": "", "sortBy": map[string]any{"column": "size"}}, nil, envelope{400, "400", "InvalidRequest", ""}},
		{"list-v2 bad cursor", "POST", "/object/list-v2/errs", "svc", map[string]any{"cursor": "!!!"}, nil, envelope{400, "400", "InvalidParameter", "Invalid Parameter continuation token"}},
		{"sign expiresIn 0", "POST", "/object/sign/errs/exists.txt", "svc", map[string]any{"expiresIn": 0}, nil, envelope{400, "400", "InvalidRequest", "body/expiresIn must be >= 1"}},
		{"sign expiresIn fraction", "POST", "/object/sign/errs/exists.txt", "svc", map[string]any{"expiresIn": 1.5}, nil, envelope{400, "400", "InvalidRequest", "body/expiresIn must be integer"}},
		{"sign missing object", "POST", "/object/sign/errs/nope.txt", "svc", map[string]any{"expiresIn": 60}, nil, envelope{400, "404", "NoSuchKey", ""}},
		{"sign many no paths", "POST", "/object/sign/errs", "svc", map[string]any{"expiresIn": 60, "paths": []string{}}, nil, envelope{400, "400", "InvalidRequest", "body/paths must NOT have fewer than 1 items"}},
		{"signed download without token", "GET", "/object/sign/errs/exists.txt", "", nil, nil, envelope{400, "400", "InvalidRequest", "querystring must have required property 'token'"}},
		{"signed download bad token", "GET", "/object/sign/errs/exists.txt?token=abc", "", nil, nil, envelope{400, "400", "InvalidJWT", "Invalid Compact JWS"}},
		{"delete many empty", "DELETE", "/object/errs", "svc", map[string]any{"prefixes": []string{}}, nil, envelope{400, "400", "InvalidRequest", "body/prefixes must NOT have fewer than 1 items"}},
		{"delete missing object", "DELETE", "/object/errs/nope.txt", "svc", nil, nil, envelope{400, "404", "NoSuchKey", ""}},
		{"copy missing source", "POST", "/object/copy", "svc", map[string]any{"bucketId": "errs", "sourceKey": "nope", "destinationKey": "x"}, nil, envelope{400, "404", "NoSuchKey", ""}},
		{"copy onto existing", "POST", "/object/copy", "svc", map[string]any{"bucketId": "errs", "sourceKey": "exists.txt", "destinationKey": "exists.txt"}, nil, envelope{400, "409", "KeyAlreadyExists", ""}},
		{"copy missing field", "POST", "/object/copy", "svc", map[string]any{"bucketId": "errs"}, nil, envelope{400, "400", "InvalidRequest", "body must have required property 'sourceKey'"}},
		{"move missing source", "POST", "/object/move", "svc", map[string]any{"bucketId": "errs", "sourceKey": "nope", "destinationKey": "x"}, nil, envelope{400, "404", "NoSuchKey", ""}},
		{"range not satisfiable", "GET", "/object/authenticated/errs/exists.txt", "svc", nil, []string{"Range", "bytes=50-"}, envelope{416, "416", "InvalidRange", "invalid range provided"}},
		{"multiple ranges", "GET", "/object/authenticated/errs/exists.txt", "svc", nil, []string{"Range", "bytes=0-1,3-4"}, envelope{416, "416", "InvalidRange", ""}},
		{"bad robots tag", "POST", "/object/errs/r.txt", "svc", "a", []string{"Content-Type", "text/plain", "x-robots-tag", "sometimes"}, envelope{400, "400", "InvalidRequest", "Invalid X-Robots-Tag header: sometimes"}},
		{"form without file", "POST", "/object/errs/f.txt", "svc", "--XX\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n60\r\n--XX--\r\n", []string{"Content-Type", "multipart/form-data; boundary=XX"}, envelope{400, "400", "InvalidRequest", "No content provided"}},
		{"unknown object route", "GET", "/object", "svc", nil, nil, envelope{404, "404", "InvalidRequest", "Route GET:/object not found"}},
		{"unknown bucket route", "PATCH", "/bucket/x/y", "svc", nil, nil, envelope{404, "404", "InvalidRequest", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			switch key {
			case "svc":
				key = f.service
			case "user":
				key = user
			}
			f.t = t
			f.checkError(f.do(tc.method, tc.path, key, tc.body, tc.headers...), tc.want)
		})
	}
}
