package s3clients

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// testConditionalAndParts drives aws-sdk-go-v2's conditional-write fields (IfNoneMatch,
// IfMatch on PutObject, CompleteMultipartUpload and CopyObject) and its part reads
// (PartNumber on GetObject and HeadObject, GetObjectAttributes' ObjectParts).
func testConditionalAndParts(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(e.endpoint)
	b := aws.String("sdk-cond")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, data []byte, ifNoneMatch, ifMatch *string) (*s3.PutObjectOutput, error) {
		return c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))), IfNoneMatch: ifNoneMatch, IfMatch: ifMatch})
	}
	first, err := put("once", []byte("first"), aws.String("*"), nil)
	if err != nil {
		t.Fatalf("create with If-None-Match: %v", err)
	}
	if _, err := put("once", []byte("second"), aws.String("*"), nil); apiCode(err) != "PreconditionFailed" {
		t.Fatalf("second create: %v", err)
	}
	if _, err := put("once", []byte("second"), nil, aws.String(`"0123456789abcdef0123456789abcdef"`)); apiCode(err) != "PreconditionFailed" {
		t.Fatalf("If-Match with another ETag: %v", err)
	}
	if _, err := put("nothing-here", []byte("x"), nil, first.ETag); apiCode(err) != "NoSuchKey" {
		t.Fatalf("If-Match on a missing key: %v", err)
	}
	if _, err := put("once", []byte("replaced"), nil, first.ETag); err != nil {
		t.Fatalf("If-Match with the ETag: %v", err)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("once"), CopySource: aws.String("sdk-cond/nothing"),
		IfNoneMatch: aws.String("*")}); err == nil {
		t.Fatal("copy from a missing source succeeded")
	}
	if _, err := put("src", []byte("source"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("once"), CopySource: aws.String("sdk-cond/src"),
		IfNoneMatch: aws.String("*")}); apiCode(err) != "PreconditionFailed" {
		t.Fatalf("copy onto an existing key with If-None-Match: %v", err)
	}

	// A multipart object of two parts, completed only if the key is still absent.
	parts := [][]byte{randomBytes(41, 5<<20), randomBytes(42, 1234)}
	key := aws.String("mp")
	complete := func(ifNoneMatch, ifMatch *string) (*s3.CompleteMultipartUploadOutput, error) {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		var done []types.CompletedPart
		for i, p := range parts {
			n := aws.Int32(int32(i + 1))
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: key, UploadId: up.UploadId, PartNumber: n,
				Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p)))})
			if err != nil {
				t.Fatal(err)
			}
			done = append(done, types.CompletedPart{PartNumber: n, ETag: out.ETag})
		}
		out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: key, UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}, IfNoneMatch: ifNoneMatch, IfMatch: ifMatch})
		if err != nil {
			_, _ = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: key, UploadId: up.UploadId})
		}
		return out, err
	}
	done, err := complete(aws.String("*"), nil)
	if err != nil {
		t.Fatalf("complete with If-None-Match on a new key: %v", err)
	}
	if _, err := complete(aws.String("*"), nil); apiCode(err) != "PreconditionFailed" {
		t.Fatalf("complete with If-None-Match on an existing key: %v", err)
	}
	if done, err = complete(nil, done.ETag); err != nil {
		t.Fatalf("complete with If-Match: %v", err)
	}

	var offset int64
	total := int64(len(parts[0]) + len(parts[1]))
	for i, p := range parts {
		n := aws.Int32(int32(i + 1))
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: key, PartNumber: n})
		if err != nil || aws.ToInt32(h.PartsCount) != 2 || aws.ToInt64(h.ContentLength) != int64(len(p)) {
			t.Fatalf("HeadObject part %d: %v", i+1, err)
		}
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, PartNumber: n})
		if err != nil {
			t.Fatalf("GetObject part %d: %v", i+1, err)
		}
		want := fmt.Sprintf("bytes %d-%d/%d", offset, offset+int64(len(p))-1, total)
		if got := readAll(t, g.Body); !bytes.Equal(got, p) || aws.ToString(g.ContentRange) != want || aws.ToInt32(g.PartsCount) != 2 ||
			aws.ToString(g.ETag) != aws.ToString(done.ETag) {
			t.Fatalf("GetObject part %d: %d bytes, range %s, parts %d, ETag %s", i+1, len(got), aws.ToString(g.ContentRange),
				aws.ToInt32(g.PartsCount), aws.ToString(g.ETag))
		}
		offset += int64(len(p))
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, PartNumber: aws.Int32(3)}); apiCode(err) != "InvalidPartNumber" {
		t.Fatalf("GetObject part 3: %v", err)
	}
	attrs, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: key, MaxParts: aws.Int32(1),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize}})
	if err != nil {
		t.Fatal(err)
	}
	op := attrs.ObjectParts
	if op == nil || aws.ToInt32(op.TotalPartsCount) != 2 || !aws.ToBool(op.IsTruncated) || len(op.Parts) != 1 ||
		aws.ToInt64(op.Parts[0].Size) != int64(len(parts[0])) || aws.ToString(op.NextPartNumberMarker) != "1" {
		t.Fatalf("ObjectParts: %+v", op)
	}
	attrs, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("src"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts, types.ObjectAttributesEtag}})
	if err != nil || attrs.ObjectParts != nil || strings.Trim(aws.ToString(attrs.ETag), `"`) == "" {
		t.Fatalf("attributes of a plain object: %v %+v", err, attrs.ObjectParts)
	}
}
