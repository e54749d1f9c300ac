package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// localMinIO starts the MinIO binary bin on a free loopback port with a temporary data
// folder, creates a bucket and returns the target specs for MinIO itself, the s3 store on it
// and a file store, plus a stop function. It is what `make bench-load` runs.
func localMinIO(ctx context.Context, bin string) ([]string, func(), error) {
	dir, err := os.MkdirTemp("", "stowage-bench-")
	if err != nil {
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	console, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	const key, secret, bucket = "stowage-bench", "stowage-bench-secret-0123456789", "bench"
	cmd := exec.Command(bin, "server", filepath.Join(dir, "minio"), "--quiet",
		"--address", "127.0.0.1:"+strconv.Itoa(port), "--console-address", "127.0.0.1:"+strconv.Itoa(console))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "MINIO_ROOT_USER=" + key,
		"MINIO_ROOT_PASSWORD=" + secret, "MINIO_BROWSER=off", "MINIO_UPDATE=off"}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("minio at %s not ready", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
	creds := fmt.Sprintf("url=%s,bucket=%s,access=%s,secret=%s", url, bucket, key, secret)
	t := newS3Target(map[string]string{"url": url, "bucket": bucket, "access": key, "secret": secret})
	if _, err := t.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &t.bucket}); err != nil {
		stop()
		return nil, nil, err
	}
	files := filepath.Join(dir, "files")
	return []string{
		"name=minio,kind=s3," + creds,
		"name=store-s3,kind=s3store," + creds,
		"name=store-file,kind=filestore,url=" + files,
	}, stop, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
