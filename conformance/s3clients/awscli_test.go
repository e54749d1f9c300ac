package s3clients

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/conformance/harness"
)

const awsCLI = "/usr/bin/aws" // the Debian package, not a pyenv aws-cli v1 first on PATH

func awsEnv(t *testing.T) []string {
	t.Helper()
	return awsEnvKeys(t, harness.S3AccessKeyID, harness.S3Secret)
}

// awsEnvKeys is awsEnv signing with id and secret.
func awsEnvKeys(t *testing.T, id, secret string) []string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n  signature_version = s3v4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return toolEnv(t, "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
		"AWS_ACCESS_KEY_ID="+id, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_PAGER=")
}

func (e *env) aws(t *testing.T, environ []string, args ...string) string {
	t.Helper()
	return run(t, environ, awsCLI, append([]string{"--endpoint-url", e.endpoint}, args...)...)
}

func testAWSCLI(t *testing.T, e *env) {
	id, secret := e.keys()
	environ := awsEnvKeys(t, id, secret)
	dir := t.TempDir()
	const b = "s3://awscli"
	e.aws(t, environ, "s3", "mb", b)

	// cp up and down.
	small := filepath.Join(dir, "small file.txt")
	if err := os.WriteFile(small, randomBytes(1, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	e.aws(t, environ, "s3", "cp", small, b+"/one/small file.txt")
	back := filepath.Join(dir, "back.txt")
	e.aws(t, environ, "s3", "cp", b+"/one/small file.txt", back)
	sameFile(t, small, back)

	// sync a folder of 300 small files both ways.
	up := filepath.Join(dir, "up")
	names := writeTree(t, up, 300)
	e.aws(t, environ, "s3", "sync", up, b+"/tree")
	down := filepath.Join(dir, "down")
	e.aws(t, environ, "s3", "sync", b+"/tree", down)
	sameTree(t, up, down)
	// A second sync has nothing to do.
	if out := e.aws(t, environ, "s3", "sync", up, b+"/tree"); strings.Contains(out, "upload:") {
		t.Fatalf("second sync uploaded again:\n%s", out)
	}
	out := e.aws(t, environ, "s3", "ls", "--recursive", b+"/tree/")
	if n := strings.Count(out, "\n"); n != len(names) {
		t.Fatalf("ls --recursive listed %d lines, want %d", n, len(names))
	}

	// presign + plain GET.
	url := strings.TrimSpace(e.aws(t, environ, "s3", "presign", b+"/one/small file.txt", "--expires-in", "300"))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := os.ReadFile(small)
	if resp.StatusCode != 200 || string(got) != string(want) {
		t.Fatalf("presigned GET: %d, %d bytes", resp.StatusCode, len(got))
	}

	// s3api.
	e.aws(t, environ, "s3api", "put-object", "--bucket", "awscli", "--key", "api/a+b c.txt", "--body", small,
		"--content-type", "text/plain", "--metadata", "color=blue")
	var head struct {
		ContentLength int64
		ContentType   string
		Metadata      map[string]string
	}
	if err := json.Unmarshal([]byte(e.aws(t, environ, "s3api", "head-object", "--bucket", "awscli", "--key", "api/a+b c.txt")), &head); err != nil {
		t.Fatal(err)
	}
	if head.ContentLength != 5000 || head.ContentType != "text/plain" || head.Metadata["color"] != "blue" {
		t.Fatalf("head-object: %+v", head)
	}
	// Copy a key that needs URL-encoding (the reference fails this).
	e.aws(t, environ, "s3api", "copy-object", "--bucket", "awscli", "--key", "api/copy b+c.txt", "--copy-source", "awscli/api/a+b c.txt")
	var list struct {
		Contents       []struct{ Key string }
		CommonPrefixes []struct{ Prefix string }
	}
	if err := json.Unmarshal([]byte(e.aws(t, environ, "s3api", "list-objects-v2", "--bucket", "awscli", "--delimiter", "/")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 0 || len(list.CommonPrefixes) != 3 {
		t.Fatalf("list-objects-v2 --delimiter /: %+v", list)
	}
	if err := json.Unmarshal([]byte(e.aws(t, environ, "s3api", "list-objects-v2", "--bucket", "awscli", "--prefix", "api/")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 2 || list.Contents[0].Key != "api/a+b c.txt" || list.Contents[1].Key != "api/copy b+c.txt" {
		t.Fatalf("list-objects-v2 --prefix api/: %+v", list)
	}
	e.aws(t, environ, "s3", "cp", b+"/api/copy b+c.txt", back)
	sameFile(t, small, back)
	e.aws(t, environ, "s3api", "delete-objects", "--bucket", "awscli", "--delete",
		`{"Objects":[{"Key":"api/a+b c.txt"},{"Key":"api/copy b+c.txt"}],"Quiet":false}`)
	if out := e.aws(t, environ, "s3api", "list-objects-v2", "--bucket", "awscli", "--prefix", "api/"); strings.Contains(out, "api/") {
		t.Fatalf("delete-objects left: %s", out)
	}

	e.aws(t, environ, "s3", "rm", "--recursive", b)
	e.aws(t, environ, "s3", "rb", b)
}
