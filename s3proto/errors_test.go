package s3proto

import (
	"encoding/xml"
	"errors"
	"fmt"
	"testing"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/sigv4"
)

// TestErrorTableComplete fails when an engine code has no S3 error.
func TestErrorTableComplete(t *testing.T) {
	t.Parallel()
	for c := 0; c < gateway.NumCodes; c++ {
		code := gateway.Code(c)
		e, ok := errorTable[code]
		if !ok {
			t.Errorf("engine code %v has no S3 error", code)
			continue
		}
		if e.Status < 300 || e.Status > 599 || e.Code == "" || e.Message == "" {
			t.Errorf("engine code %v: incomplete entry %+v", code, e)
		}
	}
}

func TestToS3Error(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"no such key", &gateway.Error{Code: gateway.CodeNoSuchKey}, 404, "NoSuchKey"},
		{"bucket not empty is S3's code", &gateway.Error{Code: gateway.CodeBucketNotEmpty}, 409, "BucketNotEmpty"},
		{"forbidden", &gateway.Error{Code: gateway.CodeForbidden}, 403, "AccessDenied"},
		{"wrapped engine error", fmt.Errorf("x: %w", &gateway.Error{Code: gateway.CodeTooLarge}), 413, "EntityTooLarge"},
		{"signature in a body", &gateway.Error{Code: gateway.CodeIncompleteBody, Err: sigv4.ErrSignatureDoesNotMatch}, 403, "SignatureDoesNotMatch"},
		{"sigv4 bad digest", sigv4.ErrBadDigest, 400, "BadDigest"},
		{"sigv4 expired", sigv4.ErrExpiredPresigned, 400, "ExpiredToken"},
		{"sigv4 unsigned headers", sigv4.ErrUnsignedHeaders, 403, "AccessDenied"},
		{"sigv4 wrong region", sigv4.ErrWrongRegion, 400, "AuthorizationHeaderMalformed"},
		{"dialect error", errNotImplemented, 501, "NotImplemented"},
		{"in request error", &requestError{err: errMalformedXML}, 400, "MalformedXML"},
		{"foreign error", errors.New("boom"), 500, "InternalError"},
		{"not modified", &gateway.Error{Code: gateway.CodeNotModified}, 304, "NotModified"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := toS3Error(tc.err)
			if got.Status != tc.status || got.Code != tc.code {
				t.Fatalf("got %d %s, want %d %s", got.Status, got.Code, tc.status, tc.code)
			}
		})
	}
}

func TestInternalMessageHidden(t *testing.T) {
	t.Parallel()
	got := toS3Error(&gateway.Error{Code: gateway.CodeInternal, Message: "secret detail"})
	if got.Message == "secret detail" {
		t.Fatal("5xx leaked the engine message")
	}
}

func TestXMLShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"error", errorBody{Code: "NoSuchKey", Message: "m", Resource: "b/k", RequestID: "id"},
			`<Error><Code>NoSuchKey</Code><Message>m</Message><Resource>b/k</Resource><RequestId>id</RequestId></Error>`},
		{"versioning without status", versioningConfiguration{},
			`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></VersioningConfiguration>`},
		{"location", locationConstraint{Region: "eu-west-1"},
			`<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>`},
		{"delete result", deleteResult{Deleted: []deletedEntry{{Key: "a"}}},
			`<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Deleted><Key>a</Key></Deleted></DeleteResult>`},
		{"tagging", tagging{Xmlns: ns, TagSet: []tag{{Key: "k", Value: "v"}}},
			`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`},
		{"copy result with checksum", copyObjectResult{ETag: `"e"`, LastModified: "t", checksums: newChecksums("CRC32", "AAAAAA==")},
			`<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ETag>&#34;e&#34;</ETag><LastModified>t</LastModified><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ChecksumType>FULL_OBJECT</ChecksumType></CopyObjectResult>`},
		{"empty tag set", tagging{Xmlns: ns},
			`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet></TagSet></Tagging>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := xml.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("got  %s\nwant %s", out, tc.want)
			}
		})
	}
}
