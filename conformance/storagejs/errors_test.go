package storagejs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

// TestReferenceErrorBodies pins, for every REST error path rest-api.md lists, the HTTP
// status and the whole JSON body the reference answers: an app written against the
// reference branches on statusCode, error, code and message, so each must be exact. Bodies
// are compared as JSON values (the spec leaves field order open).
func TestReferenceErrorBodies(t *testing.T) {
	harness.ForEachBackend(t, func(t *testing.T, backend string) { referenceErrorBodies(t, backend) })
}

// errorCase is one request and the reference's answer to it.
type errorCase struct {
	name    string
	method  string
	path    string
	key     string // "svc", "user", "anon", "garbage", "norole" or "" (no Authorization)
	body    any    // nil, a raw string, or a JSON value
	headers []string
	status  int
	want    string // the exact JSON body; "" = an empty body (HEAD)
}

func envelope(statusCode, tag, message, code string) string {
	b, _ := json.Marshal(map[string]string{"statusCode": statusCode, "error": tag, "message": message, "code": code})
	return string(b)
}

// Reference bodies used by several cases.
var (
	noSuchKey      = envelope("404", "not_found", "Object not found", "NoSuchKey")
	noSuchBucket   = envelope("404", "Bucket not found", "Bucket not found", "NoSuchBucket")
	duplicateKey   = envelope("409", "Duplicate", "The resource already exists", "KeyAlreadyExists")
	invalidJWS     = envelope("403", "Unauthorized", "Invalid Compact JWS", "AccessDenied")
	tooLarge       = envelope("413", "Payload too large", "The object exceeded the maximum allowed size", "EntityTooLarge")
	relatedMissing = envelope("404", "InvalidRequest", "The related resource does not exist", "InvalidRequest")
)

// s3Client speaks S3 to srv with the harness's service credentials.
func s3Client(srv *harness.Server) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL + "/s3"), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(harness.S3AccessKeyID, harness.S3Secret, ""),
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func validation(msg string) string { return envelope("400", "Error", msg, "InvalidRequest") }

const errUser = "7a1d6c1e-8a55-4a6b-a3c2-8f0f0a4a1b11"

func referenceErrorBodies(t *testing.T, backend string) {
	dbURL := pgtest.URL(t)
	srv := harness.Start(t, harness.Options{DatabaseURL: dbURL, Backend: backend,
		Env: map[string]string{"STORAGE_EMPTY_BUCKET_MAX": "2", "UPLOAD_FILE_SIZE_LIMIT": "1GB"}})
	keys := map[string]string{"svc": srv.ServiceKey, "anon": srv.AnonKey, "user": srv.UserKey(t, errUser), "garbage": "garbage"}
	noRole, err := srv.Verifier.Sign(map[string]any{"role": "no_such_role", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	keys["norole"] = noRole
	api := srv.URL + "/storage/v1"
	send := func(t *testing.T, method, path, key string, body any, headers ...string) (*http.Response, []byte) {
		t.Helper()
		var rd io.Reader
		ct := ""
		switch b := body.(type) {
		case nil:
		case string:
			rd = strings.NewReader(b)
		default:
			data, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			rd, ct = bytes.NewReader(data), "application/json"
		}
		req, err := http.NewRequest(method, api+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+keys[key])
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp, data
	}
	ok := func(method, path string, body any, headers ...string) []byte {
		t.Helper()
		resp, data := send(t, method, path, "svc", body, headers...)
		if resp.StatusCode != 200 {
			t.Fatalf("setup %s %s: %d %s", method, path, resp.StatusCode, data)
		}
		return data
	}
	ok("POST", "/bucket", map[string]any{"name": "errs", "file_size_limit": 10, "allowed_mime_types": []string{"image/*", "text/plain"}})
	ok("POST", "/bucket", map[string]any{"name": "priv"})
	ok("POST", "/bucket", map[string]any{"name": "full"})
	text := []string{"Content-Type", "text/plain"}
	ok("POST", "/object/errs/exists.txt", "hello", text...)
	ok("POST", "/object/errs/other.txt", "other", text...)
	ok("POST", "/object/errs/gone.txt", "gone", text...)
	for i := range 3 {
		ok("POST", fmt.Sprintf("/object/full/o%d.txt", i), "x", text...)
	}
	var signed struct{ SignedURL string }
	if err := json.Unmarshal(ok("POST", "/object/sign/errs/exists.txt", map[string]any{"expiresIn": 600}), &signed); err != nil {
		t.Fatal(err)
	}
	downloadToken := signed.SignedURL[strings.Index(signed.SignedURL, "token=")+len("token="):]
	var upload struct{ Token string }
	if err := json.Unmarshal(ok("POST", "/object/upload/sign/errs/up.txt", map[string]any{}), &upload); err != nil {
		t.Fatal(err)
	}
	bigMeta := "--XX\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"a\":\"" + strings.Repeat("m", 1<<20) + "\"}\r\n" +
		"--XX\r\nContent-Disposition: form-data; name=\"\"; filename=\"m.txt\"\r\nContent-Type: text/plain\r\n\r\nx\r\n--XX--\r\n"
	past := time.Now().Add(-time.Hour).Unix()
	expiredToken, err := srv.Verifier.SignURL(map[string]any{"url": "errs/exists.txt", "scope": "download", "iat": past - 60, "exp": past})
	if err != nil {
		t.Fatal(err)
	}
	form := "--XX\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n60\r\n--XX--\r\n"
	// A bucket an unfinished S3 multipart upload references.
	ok("POST", "/bucket", map[string]any{"name": "pending"})
	if _, err := s3Client(srv).CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String("pending"), Key: aws.String("big.bin")}); err != nil {
		t.Fatal(err)
	}

	cases := []errorCase{
		// Not found (rest-api.md §0.7, §3.1)
		{"missing object", "GET", "/object/authenticated/errs/nope.txt", "svc", nil, nil, 400, noSuchKey},
		{"missing object, HEAD", "HEAD", "/object/errs/nope.txt", "svc", nil, nil, 400, ""},
		{"missing object info", "GET", "/object/info/errs/nope.txt", "svc", nil, nil, 400, noSuchKey},
		{"missing bucket", "GET", "/object/authenticated/nope/a.txt", "svc", nil, nil, 400, noSuchBucket},
		{"private bucket via the public route", "GET", "/object/public/priv/a.txt", "", nil, nil, 400, noSuchBucket},
		{"private bucket without a token", "GET", "/object/priv/a.txt", "", nil, nil, 400, noSuchBucket},
		{"get missing bucket", "GET", "/bucket/nope", "svc", nil, nil, 400, noSuchBucket},
		{"delete missing object", "DELETE", "/object/errs/nope.txt", "svc", nil, nil, 400, noSuchKey},
		{"sign missing object", "POST", "/object/sign/errs/nope.txt", "svc", map[string]any{"expiresIn": 60}, nil, 400, noSuchKey},
		{"copy missing source", "POST", "/object/copy", "svc", map[string]any{"bucketId": "errs", "sourceKey": "nope.txt", "destinationKey": "x.txt"}, nil, 400, noSuchKey},
		{"move missing source", "POST", "/object/move", "svc", map[string]any{"bucketId": "errs", "sourceKey": "nope.txt", "destinationKey": "x.txt"}, nil, 400, noSuchKey},
		{"copy into a missing bucket", "POST", "/object/copy", "svc", map[string]any{"bucketId": "errs", "sourceKey": "exists.txt", "destinationKey": "x.txt", "destinationBucket": "nowhere"}, nil, 400, relatedMissing},
		{"move into a missing bucket", "POST", "/object/move", "svc", map[string]any{"bucketId": "errs", "sourceKey": "exists.txt", "destinationKey": "x.txt", "destinationBucket": "nowhere"}, nil, 400, relatedMissing},

		// Conflicts
		{"upload onto an existing key", "POST", "/object/errs/exists.txt", "svc", "abc", text, 400, duplicateKey},
		{"duplicate bucket", "POST", "/bucket", "svc", map[string]any{"name": "errs"}, nil, 400, envelope("409", "Duplicate", "The resource already exists", "BucketAlreadyExists")},
		{"copy onto an existing key", "POST", "/object/copy", "svc", map[string]any{"bucketId": "errs", "sourceKey": "exists.txt", "destinationKey": "other.txt"}, nil, 400, duplicateKey},
		{"move onto an existing key", "POST", "/object/move", "svc", map[string]any{"bucketId": "errs", "sourceKey": "exists.txt", "destinationKey": "other.txt"}, nil, 400, envelope("409", "Duplicate", "The resource already exists", "ResourceAlreadyExists")},
		{"signed upload URL onto an existing key", "POST", "/object/upload/sign/errs/exists.txt", "svc", map[string]any{}, nil, 400, duplicateKey},
		{"delete a non-empty bucket", "DELETE", "/bucket/errs", "svc", map[string]any{}, nil, 400, envelope("409", "ResourceNotEmpty", "The bucket you tried to delete is not empty", "ResourceNotEmpty")},
		{"delete a bucket with an unfinished S3 upload", "DELETE", "/bucket/pending", "svc", map[string]any{}, nil, 400, envelope("409", "ResourceReferenced", `Key (id)=(pending) is still referenced from table "s3_multipart_uploads".`, "ResourceReferenced")},
		{"empty a bucket over STORAGE_EMPTY_BUCKET_MAX", "POST", "/bucket/full/empty", "svc", map[string]any{}, nil, 400, envelope("409", "InvalidRequest", "Unable to empty the bucket because it contains too many objects", "InvalidRequest")},

		// Access
		{"garbage token", "GET", "/bucket", "garbage", nil, nil, 400, invalidJWS},
		{"list-v2 without a token", "POST", "/object/list-v2/errs", "", map[string]any{}, nil, 400, invalidJWS},
		{"health without a token", "GET", "/health", "", nil, nil, 400, invalidJWS},
		{"RLS denies an upload", "POST", "/object/errs/u.txt", "user", "abc", text, 400, envelope("403", "Unauthorized", "new row violates row-level security policy", "AccessDenied")},
		{"RLS denies a delete", "DELETE", "/object/errs/exists.txt", "user", nil, nil, 400, envelope("403", "Unauthorized", "Access denied", "AccessDenied")},
		{"RLS denies a bucket", "POST", "/bucket", "user", map[string]any{"name": "mine"}, nil, 400, envelope("403", "Unauthorized", "new row violates row-level security policy", "AccessDenied")},
		{"empty a bucket as a user", "POST", "/bucket/full/empty", "user", map[string]any{}, nil, 403, envelope("403", "Unauthorized", "Access denied: Invalid role", "AccessDenied")},
		{"empty a bucket without a token", "POST", "/bucket/full/empty", "", map[string]any{}, nil, 403, envelope("403", "Unauthorized", "Access denied: JWT is not authenticated", "AccessDenied")},
		{"a JWT role Postgres does not know", "GET", "/bucket", "norole", nil, nil, 500, envelope("500", "DatabaseError", "database error, code: 22023", "DatabaseError")},
		{"TUS without a token", "POST", "/upload/resumable", "", nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "1"}, 400, invalidJWS},

		{"CDN purge without a CDN", "DELETE", "/cdn/errs/exists.txt", "svc", nil, nil, 400, envelope("400", "MissingParameter", "Missing Required Parameter CDN_PURGE_ENDPOINT_URL is not set", "MissingParameter")},
		{"CDN purge as a user", "DELETE", "/cdn/errs", "user", nil, nil, 403, envelope("403", "Unauthorized", "Access denied: Invalid role", "AccessDenied")},

		// Signed URLs (§2.4, §4.2)
		{"signed download with a bad token", "GET", "/object/sign/errs/exists.txt?token=abc", "", nil, nil, 400, envelope("400", "InvalidJWT", "Invalid Compact JWS", "InvalidJWT")},
		{"signed download with an upload token", "GET", "/object/sign/errs/up.txt?token=" + upload.Token, "", nil, nil, 400, envelope("400", "InvalidSignature", "Token is not scoped for download", "InvalidSignature")},
		{"signed download with an expired token", "GET", "/object/sign/errs/exists.txt?token=" + expiredToken, "", nil, nil, 400, envelope("400", "InvalidJWT", `"exp" claim timestamp check failed`, "InvalidJWT")},
		{"signed download of another path", "GET", "/object/sign/errs/other.txt?token=" + downloadToken, "", nil, nil, 400, envelope("400", "InvalidSignature", "Invalid signature", "InvalidSignature")},
		{"signed upload with a download token", "PUT", "/object/upload/sign/errs/exists.txt?token=" + downloadToken, "", "x", text, 400, envelope("400", "InvalidSignature", "Token is not scoped for upload", "InvalidSignature")},
		{"signed upload with a bad token", "PUT", "/object/upload/sign/errs/up.txt?token=abc", "", "x", text, 400, envelope("400", "InvalidJWT", "Invalid Compact JWS", "InvalidJWT")},
		{"signed download without a token", "GET", "/object/sign/errs/exists.txt", "", nil, nil, 400, validation("querystring must have required property 'token'")},

		// Names, types, sizes (§0.8, §1.1, §2.1)
		{"invalid bucket name", "POST", "/bucket", "svc", map[string]any{"name": "a/b"}, nil, 400, envelope("400", "Invalid Input", "Bucket name invalid", "InvalidBucketName")},
		{"invalid key", "POST", "/object/errs/a%09b.txt", "svc", "abc", text, 400, envelope("400", "InvalidKey", "Invalid key: a\tb.txt", "InvalidKey")},
		{"mime type not allowed", "POST", "/object/errs/a.bin", "svc", "abc", []string{"Content-Type", "application/pdf"}, 400, envelope("415", "invalid_mime_type", "mime type application/pdf is not supported", "InvalidMimeType")},
		{"mime parameters are not stripped", "POST", "/object/errs/a.txt", "svc", "abc", []string{"Content-Type", "text/plain;charset=UTF-8"}, 400, envelope("415", "invalid_mime_type", "mime type text/plain;charset=UTF-8 is not supported", "InvalidMimeType")},
		{"bad allowed_mime_types entry", "POST", "/bucket", "svc", map[string]any{"name": "mimes", "allowed_mime_types": []string{"nonsense"}}, nil, 400, envelope("415", "invalid_mime_type", "mime type nonsense is not supported", "InvalidMimeType")},
		{"over the bucket's size limit", "POST", "/object/errs/big.txt", "svc", strings.Repeat("x", 11), text, 400, tooLarge},
		{"bytes in a folder placeholder", "POST", "/object/priv/dir/.emptyFolderPlaceholder", "svc", "x", text, 400, tooLarge},
		{"user metadata over 1 MiB", "POST", "/object/priv/m.txt", "svc", bigMeta, []string{"Content-Type", "multipart/form-data; boundary=XX"}, 400, envelope("413", "Payload too large", "The user_metadata exceeded the maximum allowed size", "EntityTooLarge")},
		{"bucket limit over the global one", "POST", "/bucket", "svc", map[string]any{"name": "huge", "file_size_limit": "5GB"}, nil, 400, tooLarge},
		{"analytics bucket", "POST", "/bucket", "svc", map[string]any{"name": "lake", "type": "ANALYTICS"}, nil, 400, envelope("409", "FeatureNotEnabled", "The feature Iceberg buckets are not enabled for this tenant is not enabled for this resource", "FeatureNotEnabled")},
		{"bad file_size_limit string", "POST", "/bucket", "svc", map[string]any{"name": "fmt", "file_size_limit": "5 parsecs"}, nil, 400, envelope("400", "InvalidRequest", "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B", "InvalidRequest")},
		{"unsatisfiable range", "GET", "/object/authenticated/errs/exists.txt", "svc", nil, []string{"Range", "bytes=50-"}, 416, envelope("416", "invalid_range", "invalid range provided", "InvalidRange")},
		{"multiple ranges", "GET", "/object/authenticated/errs/exists.txt", "svc", nil, []string{"Range", "bytes=0-1,3-4"}, 416, envelope("416", "invalid_range", "invalid range provided", "InvalidRange")},
		{"bad x-robots-tag", "POST", "/object/errs/r.txt", "svc", "a", []string{"Content-Type", "text/plain", "x-robots-tag", "sometimes"}, 400, envelope("400", "invalid_x_robots_tag", "Invalid X-Robots-Tag header: sometimes", "InvalidRequest")},
		{"form without a file", "POST", "/object/errs/f.txt", "svc", form, []string{"Content-Type", "multipart/form-data; boundary=XX"}, 400, envelope("400", "InvalidRequest", "No content provided", "InvalidRequest")},
		{"list-v2 bad cursor", "POST", "/object/list-v2/errs", "svc", map[string]any{"cursor": "!!!"}, nil, 400, envelope("400", "InvalidParameter", "Invalid Parameter continuation token", "InvalidParameter")},

		// Request validation (§0.3, §0.6)
		{"no authorization header", "POST", "/object/errs/x.txt", "", "abc", text, 400, validation("headers must have required property 'authorization'")},
		{"list without prefix", "POST", "/object/list/errs", "svc", map[string]any{}, nil, 400, validation("body must have required property 'prefix'")},
		{"list with a bad sort column", "POST", "/object/list/errs", "svc", map[string]any{"prefix": "", "sortBy": map[string]any{"column": "size"}}, nil, 400, validation("body/sortBy/column must be equal to one of the allowed values")},
		{"expiresIn 0", "POST", "/object/sign/errs/exists.txt", "svc", map[string]any{"expiresIn": 0}, nil, 400, validation("body/expiresIn must be >= 1")},
		{"expiresIn not an integer", "POST", "/object/sign/errs/exists.txt", "svc", map[string]any{"expiresIn": 1.5}, nil, 400, validation("body/expiresIn must be integer")},
		{"sign many without paths", "POST", "/object/sign/errs", "svc", map[string]any{"expiresIn": 60, "paths": []string{}}, nil, 400, validation("body/paths must NOT have fewer than 1 items")},
		{"delete many without keys", "DELETE", "/object/errs", "svc", map[string]any{"prefixes": []string{}}, nil, 400, validation("body/prefixes must NOT have fewer than 1 items")},
		{"copy without sourceKey", "POST", "/object/copy", "svc", map[string]any{"bucketId": "errs"}, nil, 400, validation("body must have required property 'sourceKey'")},
		{"update a bucket with nothing", "PUT", "/bucket/errs", "svc", map[string]any{"id": "errs"}, nil, 400, validation("body must have at least 1 properties")},
		{"invalid JSON", "POST", "/bucket", "svc", "{", []string{"Content-Type", "application/json"}, 400, envelope("400", "FastifyError", "Body is not valid JSON but content-type is set to 'application/json'", "InvalidRequest")},
		{"empty JSON body", "POST", "/bucket", "svc", "", []string{"Content-Type", "application/json"}, 400, envelope("400", "FastifyError", "Body cannot be empty when content-type is set to 'application/json'", "InvalidRequest")},
		{"JSON body over 1 MiB", "POST", "/object/list/errs", "svc", `{"prefix":"` + strings.Repeat("a", 1<<20) + `"}`, []string{"Content-Type", "application/json"}, 413, envelope("413", "FastifyError", "Request body is too large", "EntityTooLarge")},

		// Deliberate bounds (docs/compatibility.md)
		{"delete many over 1000 keys", "DELETE", "/object/errs", "svc", map[string]any{"prefixes": make([]string, 1001)}, nil, 400, validation("body/prefixes must NOT have more than 1000 items")},
		{"expiresIn over ~100 years", "POST", "/object/sign/errs/exists.txt", "svc", map[string]any{"expiresIn": 1 << 40}, nil, 400, envelope("400", "InvalidParameter", "Invalid Parameter expiresIn", "InvalidParameter")},
		{"a dot segment", "POST", "/object/errs/a/../b.txt", "svc", "abc", text, 400, envelope("400", "InvalidKey", "Invalid key: a/../b.txt", "InvalidKey")},

		// Unknown routes (§0.5): the envelope under /bucket and /object, the framework's own
		// body with a numeric statusCode elsewhere; /storage/v1 is the gateway's, not named.
		{"unknown object route", "GET", "/object/x", "svc", nil, nil, 404, envelope("404", "Not Found", "Route GET:/object/x not found", "InvalidRequest")},
		{"unknown bucket route", "PATCH", "/bucket/x/y", "svc", nil, nil, 404, envelope("404", "Not Found", "Route PATCH:/bucket/x/y not found", "InvalidRequest")},
		{"unknown cdn route", "GET", "/cdn", "svc", nil, nil, 404, envelope("404", "Not Found", "Route GET:/cdn not found", "InvalidRequest")},
		{"unknown route", "GET", "/foo?a=1", "", nil, nil, 404, `{"message":"Route GET:/foo?a=1 not found","error":"Not Found","statusCode":404}`},
		{"GET of a resumable upload", "GET", "/upload/resumable", "svc", nil, nil, 404, `{"message":"Route GET:/upload/resumable not found","error":"Not Found","statusCode":404}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, tc.method, tc.path, tc.key, tc.body, tc.headers...)
			checkBody(t, resp, body, tc.status, tc.want)
		})
	}

	t.Run("bucket type for old python clients, size strings", func(t *testing.T) {
		ok("POST", "/bucket", map[string]any{"name": "sized", "file_size_limit": "1.2345MB"})
		for _, tc := range []struct {
			header, value string
			withType      bool
		}{
			{"X-Client-Info", "supabase-py/2.17.0", false},
			{"User-Agent", "supabase-py/storage3 v0.12.0", false},
			{"X-Client-Info", "supabase-py/2.18.0", true},
		} {
			var list []map[string]any
			if err := json.Unmarshal(ok("GET", "/bucket?search=sized", nil, tc.header, tc.value), &list); err != nil || len(list) != 1 {
				t.Fatalf("%s: %v %v", tc.value, list, err)
			}
			if _, has := list[0]["type"]; has != tc.withType || list[0]["file_size_limit"] != float64(1230000) {
				t.Fatalf("%s: %v", tc.value, list[0])
			}
		}
	})

	t.Run("unknown route at the root", func(t *testing.T) {
		resp := harness.Do(t, "GET", srv.URL+"/foo", "", nil, 0, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkBody(t, resp, body, 404, `{"message":"Route GET:/foo not found","error":"Not Found","statusCode":404}`)
	})

	for _, tc := range []struct {
		name           string
		declared, sent int
	}{
		// Read ahead by the server before the handler runs.
		{"aborted upload body", 100, 10},
		// Streamed to the handler: past the server's 1 MiB read-ahead.
		{"aborted streamed upload body", 4 << 20, 2 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The client declares more bytes than it sends, then stops sending.
			status, body := abortedUpload(t, srv.Port, "/object/priv/cut.bin", srv.ServiceKey, tc.declared, tc.sent)
			if status != 400 || !sameJSON(body, envelope("400", "FastifyError", "The request body ended before it was complete", "InvalidRequest")) {
				t.Fatalf("HTTP %d %s", status, body)
			}
			resp, data := send(t, "GET", "/object/authenticated/priv/cut.bin", "svc", nil)
			checkBody(t, resp, data, 400, noSuchKey)
		})
	}

	t.Run("a refused upload leaves the connection usable", func(t *testing.T) {
		// Over the bucket's limit by Content-Length: refused before its body is read. The
		// client is still sending; it must get the answer, and the connection the next one.
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", srv.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
		const size = 3 << 20
		sent := make(chan error, 1)
		go func() {
			_, err := fmt.Fprintf(conn, "POST /storage/v1/object/errs/big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", srv.ServiceKey, size)
			if err == nil {
				_, err = conn.Write(bytes.Repeat([]byte("x"), size))
			}
			sent <- err
		}()
		r := bufio.NewReader(conn)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("no answer to the refused upload: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkBody(t, resp, body, 400, tooLarge)
		if err := <-sent; err != nil {
			t.Fatalf("sending the body: %v", err)
		}
		fmt.Fprintf(conn, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err = http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("the connection did not take a second request: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("second request: HTTP %d", resp.StatusCode)
		}
	})

	if backend == "file" {
		t.Run("row without bytes", func(t *testing.T) {
			removeBlob(t, srv.DataDir, dbURL, "errs", "gone.txt")
			resp, body := send(t, "GET", "/object/authenticated/errs/gone.txt", "svc", nil)
			checkBody(t, resp, body, 400, envelope("404", "Not found", "The resource was not found", "NoSuchKey"))
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("Cache-Control %q", cc)
			}
		})
	}
}

// checkBody compares a reply with the reference's status and body.
func checkBody(t *testing.T, resp *http.Response, body []byte, status int, want string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, status, body)
	}
	if want == "" {
		if len(body) != 0 {
			t.Fatalf("body %q, want none", body)
		}
		return
	}
	if !sameJSON(body, want) {
		t.Fatalf("body\n  %s\nwant\n  %s", body, want)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// sameJSON reports whether got is the JSON value want (same fields, types and values).
func sameJSON(got []byte, want string) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	return reflect.DeepEqual(g, w)
}

// abortedUpload sends an upload whose body stops short of its Content-Length, half-closes
// the connection and returns the server's answer.
func abortedUpload(t *testing.T, port int, path, key string, declared, sent int) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(conn, "POST /storage/v1%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", path, key, declared)
	if _, err := conn.Write(bytes.Repeat([]byte("x"), sent)); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// removeBlob deletes the bytes of bucket/key from the file backend under dataDir, or from
// Postgres where the server keeps small objects (STOWAGE_INLINE_MAX_BYTES), leaving the row.
func removeBlob(t *testing.T, dataDir, dbURL, bucket, key string) {
	t.Helper()
	suffix := string(filepath.Separator) + filepath.Join(bucket, key)
	removed := 0
	err := filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasSuffix(p, suffix) {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			removed++
			return filepath.SkipDir
		}
		return nil
	})
	if err == nil {
		var conn *pgx.Conn
		if conn, err = pgx.Connect(context.Background(), dbURL); err == nil {
			var ct pgconn.CommandTag
			ct, err = conn.Exec(context.Background(), `delete from stowage.small_blobs where key like '%/' || $1`,
				bucket+"/"+key+"/%")
			removed += int(ct.RowsAffected())
			conn.Close(context.Background())
		}
	}
	if err != nil || removed != 1 {
		t.Fatalf("removing the bytes of %s/%s: %d folders or rows, %v", bucket, key, removed, err)
	}
}
