package s3clients

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// mpHash is an S3 checksum algorithm from the standard library, independent of the server.
func mpHash(t *testing.T, alg types.ChecksumAlgorithm) hash.Hash {
	t.Helper()
	switch alg {
	case types.ChecksumAlgorithmCrc32:
		return crc32.NewIEEE()
	case types.ChecksumAlgorithmCrc32c:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case types.ChecksumAlgorithmCrc64nvme:
		return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5))
	case types.ChecksumAlgorithmSha1:
		return sha1.New()
	case types.ChecksumAlgorithmSha256:
		return sha256.New()
	}
	t.Fatalf("unknown algorithm %s", alg)
	return nil
}

func mpSum(t *testing.T, alg types.ChecksumAlgorithm, data []byte) []byte {
	t.Helper()
	h := mpHash(t, alg)
	h.Write(data)
	return h.Sum(nil)
}

// compositeChecksum is S3's COMPOSITE checksum of data uploaded in parts of partSize:
// the checksum of the concatenated binary part checksums, then "-<parts>".
func compositeChecksum(t *testing.T, alg types.ChecksumAlgorithm, data []byte, partSize int) string {
	t.Helper()
	var cat []byte
	n := 0
	for off := 0; off < len(data); off += partSize {
		cat = append(cat, mpSum(t, alg, data[off:min(off+partSize, len(data))])...)
		n++
	}
	return base64.StdEncoding.EncodeToString(mpSum(t, alg, cat)) + "-" + strconv.Itoa(n)
}

// objectChecksum picks alg's value from an output's checksum fields.
func objectChecksum(alg types.ChecksumAlgorithm, crc32v, crc32c, crc64nvme, sha1v, sha256v *string) string {
	return aws.ToString(map[types.ChecksumAlgorithm]*string{types.ChecksumAlgorithmCrc32: crc32v, types.ChecksumAlgorithmCrc32c: crc32c,
		types.ChecksumAlgorithmCrc64nvme: crc64nvme, types.ChecksumAlgorithmSha1: sha1v, types.ChecksumAlgorithmSha256: sha256v}[alg])
}

// testMultipartChecksums uploads in parts with checksums and compares what the server
// returns with checksums computed here.
func testMultipartChecksums(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(e.endpoint)
	bucket := "mp-checksums"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	t.Cleanup(func() {
		for _, k := range keys {
			_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		}
		_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	const partSize = 5 << 20
	data := randomBytes(21, 2*partSize+12345)
	head := func(t *testing.T, key string, alg types.ChecksumAlgorithm) (string, types.ChecksumType) {
		t.Helper()
		out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		return objectChecksum(alg, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256), out.ChecksumType
	}

	composite := []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c,
		types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256}
	for _, alg := range composite {
		key := "manager-" + string(alg)
		keys = append(keys, key)
		t.Run("upload manager composite "+string(alg), func(t *testing.T) {
			up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = partSize; u.Concurrency = 2 })
			out, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
				Body: bytes.NewReader(data), ChecksumAlgorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			want := compositeChecksum(t, alg, data, partSize)
			got := objectChecksum(alg, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256)
			if got != want || out.ChecksumType != types.ChecksumTypeComposite {
				t.Fatalf("upload: checksum %q type %q, want %q COMPOSITE", got, out.ChecksumType, want)
			}
			if got, typ := head(t, key, alg); got != want || typ != types.ChecksumTypeComposite {
				t.Fatalf("head: checksum %q type %q, want %q COMPOSITE", got, typ, want)
			}
		})
	}

	full := []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme}
	for _, alg := range full {
		key := "full-" + string(alg)
		keys = append(keys, key)
		t.Run("full object "+string(alg), func(t *testing.T) {
			cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
				ChecksumAlgorithm: alg, ChecksumType: types.ChecksumTypeFullObject})
			if err != nil {
				t.Fatal(err)
			}
			var parts []types.CompletedPart
			for i, off := int32(1), 0; off < len(data); i, off = i+1, off+partSize {
				po, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cr.UploadId,
					PartNumber: aws.Int32(i), Body: bytes.NewReader(data[off:min(off+partSize, len(data))]), ChecksumAlgorithm: alg})
				if err != nil {
					t.Fatal(err)
				}
				parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i), ETag: po.ETag, ChecksumCRC32: po.ChecksumCRC32,
					ChecksumCRC32C: po.ChecksumCRC32C, ChecksumCRC64NVME: po.ChecksumCRC64NVME})
			}
			lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cr.UploadId})
			if err != nil || len(lp.Parts) != len(parts) || lp.ChecksumType != types.ChecksumTypeFullObject {
				t.Fatalf("list parts: %v %+v", err, lp)
			}
			for i, p := range lp.Parts {
				want := base64.StdEncoding.EncodeToString(mpSum(t, alg, data[i*partSize:min((i+1)*partSize, len(data))]))
				if got := objectChecksum(alg, p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME, p.ChecksumSHA1, p.ChecksumSHA256); got != want {
					t.Fatalf("list parts: part %d checksum %q, want %q", i+1, got, want)
				}
			}

			bad := append([]types.CompletedPart(nil), parts...)
			bad[0].ChecksumCRC32, bad[0].ChecksumCRC32C, bad[0].ChecksumCRC64NVME = parts[1].ChecksumCRC32, parts[1].ChecksumCRC32C, parts[1].ChecksumCRC64NVME
			_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
				UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
			if apiCode(err) != "InvalidPart" {
				t.Fatalf("complete with a wrong part checksum: %v, want InvalidPart", err)
			}

			done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
				UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
			if err != nil {
				t.Fatal(err)
			}
			want := base64.StdEncoding.EncodeToString(mpSum(t, alg, data))
			got := objectChecksum(alg, done.ChecksumCRC32, done.ChecksumCRC32C, done.ChecksumCRC64NVME, done.ChecksumSHA1, done.ChecksumSHA256)
			if got != want || done.ChecksumType != types.ChecksumTypeFullObject {
				t.Fatalf("complete: checksum %q type %q, want %q FULL_OBJECT", got, done.ChecksumType, want)
			}
			if got, typ := head(t, key, alg); got != want || typ != types.ChecksumTypeFullObject {
				t.Fatalf("head: checksum %q type %q, want %q FULL_OBJECT", got, typ, want)
			}
			// A GET with checksum validation on: the SDK checks full-object values itself.
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			if back := readAll(t, obj.Body); !bytes.Equal(back, data) {
				t.Fatal("downloaded bytes differ")
			}
		})
	}
}
