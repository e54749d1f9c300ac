package s3clients

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// bigFile writes n random bytes to a temp file.
func bigFile(t *testing.T, seed int64, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(p, randomBytes(seed, n), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testMultipart moves large files with every client; they all switch to multipart uploads.
func testMultipart(t *testing.T, e *env) {
	t.Run("awscli 100MiB", func(t *testing.T) {
		t.Parallel()
		environ := awsEnv(t)
		src := bigFile(t, 11, 100<<20)
		e.aws(t, environ, "s3", "mb", "s3://mp-awscli")
		e.aws(t, environ, "s3", "cp", src, "s3://mp-awscli/big.bin")
		back := filepath.Join(t.TempDir(), "back.bin")
		e.aws(t, environ, "s3", "cp", "s3://mp-awscli/big.bin", back)
		sameFile(t, src, back)
		e.aws(t, environ, "s3", "rb", "--force", "s3://mp-awscli")
	})
	t.Run("rclone 100MiB", func(t *testing.T) {
		t.Parallel()
		environ := rcloneEnv(t, e)
		dir := filepath.Dir(bigFile(t, 12, 100<<20))
		run(t, environ, "rclone", "mkdir", "x:mp-rclone")
		run(t, environ, "rclone", "copy", dir, "x:mp-rclone/d")
		run(t, environ, "rclone", "check", dir, "x:mp-rclone/d")
		// rclone check of a multipart object compares the MD5 rclone stored in its own
		// metadata, not the server's bytes: download and compare them.
		down := t.TempDir()
		run(t, environ, "rclone", "copy", "x:mp-rclone/d", down)
		sameTree(t, dir, down)
		run(t, environ, "rclone", "purge", "x:mp-rclone")
	})
	t.Run("s3cmd 40MiB", func(t *testing.T) {
		t.Parallel()
		environ := toolEnv(t)
		cfg := s3cmdConfig(t, e)
		src := bigFile(t, 13, 40<<20)
		s3cmd(t, environ, cfg, "mb", "s3://mp-s3cmd")
		s3cmd(t, environ, cfg, "put", src, "s3://mp-s3cmd/big.bin")
		back := filepath.Join(t.TempDir(), "back.bin")
		s3cmd(t, environ, cfg, "get", "s3://mp-s3cmd/big.bin", back)
		sameFile(t, src, back)
		s3cmd(t, environ, cfg, "del", "s3://mp-s3cmd/big.bin")
		s3cmd(t, environ, cfg, "rb", "s3://mp-s3cmd")
	})
	t.Run("upload manager", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		c := e.client(e.endpoint)
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mp-sdk")}); err != nil {
			t.Fatal(err)
		}
		data := randomBytes(14, 25<<20)
		up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20 })
		if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("mp-sdk"), Key: aws.String("big"), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		buf := manager.NewWriteAtBuffer(nil)
		if _, err := manager.NewDownloader(c).Download(ctx, buf, &s3.GetObjectInput{Bucket: aws.String("mp-sdk"), Key: aws.String("big")}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), data) {
			t.Fatal("downloaded bytes differ")
		}
	})
}
