package s3clients

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowage/stowage/conformance/harness"
)

// testEdges checks through aws-sdk-go-v2 the bucket and multipart edges S3 clients rely on:
// DeleteBucket with a pending upload, re-creating your own bucket, S3 bucket names,
// ListBuckets paging, an empty max-keys page, and a repeated completion.
func testEdges(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(e.endpoint)

	t.Run("delete bucket with a pending upload", func(t *testing.T) {
		b := aws.String("edges-pending")
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
		mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("big")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("big"), UploadId: mp.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("pending part")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b}); err != nil {
			t.Fatalf("DeleteBucket with only a pending upload: %v", err)
		}
		_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: b})
		var nf *types.NotFound
		if !errors.As(err, &nf) {
			t.Fatalf("HeadBucket after the delete: %v", err)
		}
	})

	t.Run("create bucket", func(t *testing.T) {
		b := aws.String("edges-mine")
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
		// us-east-1: S3's legacy 200 for re-creating your own bucket.
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
			t.Fatalf("re-creating an owned bucket in us-east-1: %v", err)
		}
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("edges_Bad")})
		if apiCode(err) != "InvalidBucketName" {
			t.Fatalf("a name S3 refuses: %v", err)
		}
	})

	t.Run("list buckets paging", func(t *testing.T) {
		want := []string{"edges-p1", "edges-p2", "edges-p3"}
		for _, name := range want {
			if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		pages := 0
		p := s3.NewListBucketsPaginator(c, &s3.ListBucketsInput{Prefix: aws.String("edges-p"), MaxBuckets: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.Prefix) != "edges-p" {
				t.Fatalf("Prefix %q", aws.ToString(out.Prefix))
			}
			for _, b := range out.Buckets {
				got = append(got, aws.ToString(b.Name))
			}
			pages++
		}
		if strings.Join(got, ",") != strings.Join(want, ",") || pages != 2 {
			t.Fatalf("paged %v in %d pages, want %v in 2", got, pages, want)
		}
	})

	t.Run("max-keys 0 and a repeated completion", func(t *testing.T) {
		b := aws.String("edges-mp")
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
		mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("k"), UploadId: mp.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("the only part")})
		if err != nil {
			t.Fatal(err)
		}
		in := &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("k"), UploadId: mp.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}
		first, err := c.CompleteMultipartUpload(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.CompleteMultipartUpload(ctx, in)
		if err != nil || aws.ToString(again.ETag) != aws.ToString(first.ETag) {
			t.Fatalf("repeated completion: %v, ETag %s want %s", err, aws.ToString(again.ETag), aws.ToString(first.ETag))
		}
		l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, MaxKeys: aws.Int32(0)})
		if err != nil || aws.ToInt32(l.KeyCount) != 0 || aws.ToBool(l.IsTruncated) || len(l.Contents) != 0 {
			t.Fatalf("max-keys 0: %+v %v", l, err)
		}
	})

	t.Run("bucket already owned by you", func(t *testing.T) {
		// Outside us-east-1 S3 answers 409 BucketAlreadyOwnedByYou.
		srv := harness.Start(t, harness.Options{Env: map[string]string{"STORAGE_S3_REGION": "eu-west-1"}})
		eu := s3.New(s3.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL + "/s3"), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(harness.S3AccessKeyID, harness.S3Secret, "")})
		b := aws.String("edges-owned")
		if _, err := eu.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
			t.Fatal(err)
		}
		_, err := eu.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) || apiCode(err) != "BucketAlreadyOwnedByYou" {
			t.Fatalf("re-creating an owned bucket in eu-west-1: %v", err)
		}
	})
}
