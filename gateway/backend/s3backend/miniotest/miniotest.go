// Package miniotest runs a throw-away MinIO server for tests: the pinned binary from
// scripts/minio.sh (or $STOWAGE_TEST_MINIO_BIN) on a free loopback port with a t.TempDir()
// data folder, ready when /minio/health/live answers and an S3 call succeeds, stopped in
// Cleanup.
package miniotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Credentials and region of every test server.
const (
	AccessKey = "stowage-minio-test"
	Secret    = "stowage-minio-test-secret-0123456789"
	Region    = "us-east-1"
)

// BinEnv names the variable that points at a MinIO binary, skipping scripts/minio.sh.
const BinEnv = "STOWAGE_TEST_MINIO_BIN"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary returns the MinIO binary: $STOWAGE_TEST_MINIO_BIN, else what scripts/minio.sh
// prints (it builds the pinned version the first time, which takes minutes).
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv(BinEnv); p != "" {
			binPath = p
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
		cmd := exec.Command(filepath.Join(root, "scripts", "minio.sh"))
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			binErr = fmt.Errorf("scripts/minio.sh: %v\n%s", err, stderr.String())
			return
		}
		binPath = strings.TrimSpace(string(out))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// MinIO is one running server with one fresh bucket.
type MinIO struct {
	Endpoint  string // http://127.0.0.1:PORT
	Port      int
	AccessKey string
	Secret    string
	Region    string
	Bucket    string // created empty by Start
	DataDir   string

	bin         string
	consolePort int

	mu   sync.Mutex
	proc *process // nil while stopped
}

type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// Start runs a MinIO and creates a fresh bucket in it. Cleanup stops it.
func Start(t testing.TB) *MinIO {
	t.Helper()
	return StartOn(t, t.TempDir())
}

// StartOn is Start with the data in dataDir (a small file system, to fill it).
func StartOn(t testing.TB, dataDir string) *MinIO {
	t.Helper()
	m := &MinIO{AccessKey: AccessKey, Secret: Secret, Region: Region, DataDir: dataDir,
		bin: Binary(t), Port: freePort(t), consolePort: freePort(t)}
	m.Endpoint = "http://127.0.0.1:" + strconv.Itoa(m.Port)
	t.Cleanup(func() {
		if t.Failed() {
			if out := m.Output(); out != "" {
				t.Logf("minio output:\n%s", out)
			}
		}
		m.kill()
	})
	m.start(t)
	m.Bucket = m.NewBucket(t)
	return m
}

// NewBucket creates another empty bucket with a random name and returns the name.
func (m *MinIO) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("stowage-test-%016x", rand.Uint64())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("minio: create bucket %s: %v", name, err)
	}
	return name
}

// Client is an S3 client for the server, built without the SDK's configuration loader so
// that AWS_CA_BUNDLE in the environment does not break it (FIELD-NOTES).
func (m *MinIO) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       m.Region,
		BaseEndpoint: aws.String(m.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(m.AccessKey, m.Secret, ""),
		HTTPClient:   &http.Client{Timeout: time.Minute},
		// Streamed test bodies over plain http need this (FIELD-NOTES).
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Stop kills the server (SIGKILL, as a crash): connections to Endpoint are refused until
// Restart. The data folder is kept.
func (m *MinIO) Stop(t testing.TB) {
	t.Helper()
	m.kill()
}

// Restart starts the server again on the same port and data folder and waits until it is
// ready. It stops a running server first.
func (m *MinIO) Restart(t testing.TB) {
	t.Helper()
	m.kill()
	m.start(t)
}

// Output is what the current (or last) process printed.
func (m *MinIO) Output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return ""
	}
	return m.proc.out.String()
}

func (m *MinIO) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(m.bin, "server", m.DataDir, "--quiet",
		"--address", "127.0.0.1:"+strconv.Itoa(m.Port),
		"--console-address", "127.0.0.1:"+strconv.Itoa(m.consolePort))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + m.DataDir,
		"MINIO_ROOT_USER=" + m.AccessKey, "MINIO_ROOT_PASSWORD=" + m.Secret,
		"MINIO_REGION=" + m.Region, "MINIO_BROWSER=off", "MINIO_UPDATE=off",
	}
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("minio: start %s: %v", m.bin, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	m.mu.Lock()
	m.proc = p
	m.mu.Unlock()
	if err := m.waitReady(p, 60*time.Second); err != nil {
		t.Fatalf("minio: %v\n%s", err, p.out.String())
	}
}

// waitReady polls the liveness endpoint (never a fixed sleep).
func (m *MinIO) waitReady(p *process, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("exited early: %v", p.err)
		default:
		}
		resp, err := client.Get(m.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			// Live comes before the object layer is up (requests then get 503
			// XMinioServerNotInitialized), so also wait for a real S3 call to work.
			if resp.StatusCode == http.StatusOK && m.s3Ready() {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("not ready after " + timeout.String())
}

func (m *MinIO) s3Ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := m.Client().ListBuckets(ctx, &s3.ListBucketsInput{})
	return err == nil
}

func (m *MinIO) kill() {
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if p == nil {
		return
	}
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // keep the tail readable, not the whole log
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
