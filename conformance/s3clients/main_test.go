// Package s3clients runs real S3 clients (aws cli, rclone, s3cmd, aws-sdk-go-v2) against
// the real stowage binary: /s3 on the main port for the clients that take an endpoint with
// a path, the S3_PORT listener's root for s3cmd. Each test owns its bucket and compares
// bytes exactly.
package s3clients

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const region = "us-east-1"

// env is a running server with both S3 endpoints.
type env struct {
	srv      *harness.Server
	endpoint string // http://127.0.0.1:PORT/s3
	s3Port   int
}

func start(t *testing.T, backend string) *env {
	t.Helper()
	return startWith(t, harness.Options{Backend: backend})
}

// startWith starts a server of opts with both S3 endpoints.
func startWith(t *testing.T, opts harness.Options) *env {
	t.Helper()
	s3Port := harness.FreePort(t)
	opts.Env = map[string]string{"S3_PORT": strconv.Itoa(s3Port), "STORAGE_S3_REGION": region}
	srv := harness.Start(t, opts)
	return &env{srv: srv, endpoint: srv.URL + "/s3", s3Port: srv.S3Port}
}

// keys are the S3 credentials clients of e sign with: the service's, or a multi-tenant
// server's tenant's.
func (e *env) keys() (id, secret string) {
	if e.srv != nil {
		return e.srv.S3AccessKeyID, e.srv.S3Secret
	}
	return harness.S3AccessKeyID, harness.S3Secret
}

// endpoints are the two S3 endpoints of e, with bucket-safe names: /s3 on the main port
// and the root of the S3_PORT listener.
func (e *env) endpoints() []struct{ name, url string } {
	return []struct{ name, url string }{
		{"main port /s3", e.endpoint},
		{"s3 listener root", "http://127.0.0.1:" + strconv.Itoa(e.s3Port)},
	}
}

// client is an in-process aws-sdk-go-v2 client with the service credentials. It is built
// without LoadDefaultConfig so that AWS_CA_BUNDLE and profiles of the machine play no part.
func (e *env) client(endpoint string) *s3.Client {
	id, secret := e.keys()
	return s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")})
}

// toolEnv is a clean environment for a client process: no CA bundle variables (they break
// plain-http clients), no instance metadata lookups, a private HOME.
func toolEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_EC2_METADATA_DISABLED=true", "LANG=C.UTF-8"}, extra...)
}

// run executes a client and fails the test with its output on error.
func run(t *testing.T, environ []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = environ
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	defer func() {
		t.Logf("%s %s (%v)", filepath.Base(name), strings.Join(args, " "), time.Since(began).Round(time.Millisecond))
	}()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// randomBytes is deterministic test data.
func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// writeTree writes n small files (some in sub-folders) under dir and returns their paths
// relative to dir.
func writeTree(t *testing.T, dir string, n int) []string {
	t.Helper()
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%03d.bin", i)
		if i%3 == 0 {
			name = fmt.Sprintf("sub%d/%s", i%5, name)
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, randomBytes(int64(i), 100+i*7), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// sameTree fails unless dirs a and b hold exactly the same files with the same bytes.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	read := func(root string) map[string][]byte {
		m := map[string][]byte{}
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			data, err := os.ReadFile(p)
			m[rel] = data
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ma, mb := read(a), read(b)
	if len(ma) != len(mb) {
		t.Fatalf("%s has %d files, %s has %d", a, len(ma), b, len(mb))
	}
	for k, v := range ma {
		if !bytes.Equal(v, mb[k]) {
			t.Fatalf("%s differs", k)
		}
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(da, db) {
		t.Fatalf("%s and %s differ (%d vs %d bytes)", a, b, len(da), len(db))
	}
}

// TestClients starts one server per backend (harness.Backends) and runs every client
// against it in parallel.
func TestClients(t *testing.T) {
	harness.ForEachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		t.Run("awscli", func(t *testing.T) { t.Parallel(); testAWSCLI(t, e) })
		t.Run("rclone", func(t *testing.T) { t.Parallel(); testRclone(t, e) })
		t.Run("awscli unicode", func(t *testing.T) { t.Parallel(); testAWSCLIUnicode(t, e) })
		t.Run("rclone unicode", func(t *testing.T) { t.Parallel(); testRcloneUnicode(t, e) })
		t.Run("s3cmd", func(t *testing.T) { t.Parallel(); testS3cmd(t, e) })
		t.Run("s3cmd sigv2", func(t *testing.T) { t.Parallel(); testS3cmdV2(t, e) })
		t.Run("sdk", func(t *testing.T) { t.Parallel(); testSDK(t, e) })
		t.Run("multipart", func(t *testing.T) { t.Parallel(); testMultipart(t, e) })
		t.Run("multipart checksums", func(t *testing.T) { t.Parallel(); testMultipartChecksums(t, e) })
		t.Run("post", func(t *testing.T) { t.Parallel(); testPostObject(t, e) })
		t.Run("conditional writes and parts", func(t *testing.T) { t.Parallel(); testConditionalAndParts(t, e) })
		t.Run("edges", func(t *testing.T) { t.Parallel(); testEdges(t, e) })
		t.Run("versioning", func(t *testing.T) { t.Parallel(); testVersioning(t, e) })
	})
}

// TestClientsMultiTenant runs the command-line clients against a tenant of a multi-tenant
// Stowage (harness.Options.MultiTenant: the tenant's admin-created S3 credentials, /s3 on
// the main port behind a proxy that sets X-Forwarded-Host), on the file backend. The
// subset: the aws cli and rclone round trips of TestClients (upload, download, sync,
// listing, presign, s3api, delete, purge) through a tenant; the edge, unicode, SigV2 and
// versioning cases exercise the dialect, not tenant routing, and run only single-tenant.
// s3cmd runs at the root of S3_PORT, behind the harness's second proxy.
func TestClientsMultiTenant(t *testing.T) {
	e := startWith(t, harness.Options{Backend: "file", MultiTenant: true})
	t.Run("awscli", func(t *testing.T) { t.Parallel(); testAWSCLI(t, e) })
	t.Run("rclone", func(t *testing.T) { t.Parallel(); testRclone(t, e) })
	t.Run("s3cmd", func(t *testing.T) { t.Parallel(); testS3cmd(t, e) })
}
