// Package harness starts the real stowage binary for black-box tests: built once per test
// binary, run on a free loopback port against a fresh pgtest database, stopped in Cleanup.
package harness

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

// JWTSecret is the HMAC secret every harness server uses.
const JWTSecret = "harness-jwt-secret-0123456789-abcdefghij"

// S3 service credentials of every harness server.
const (
	S3AccessKeyID = "harnessaccesskey"
	S3Secret      = "harness-secret-access-key-0123456789"
)

var roles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/stowage once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "stowage-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "stowage")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/stowage")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Options configure a server.
type Options struct {
	// Env adds or overrides environment variables. DATABASE_URL "" selects embedded mode.
	Env map[string]string
	// DatabaseURL, when empty, is a fresh pgtest database (unless Embedded).
	DatabaseURL string
	// Embedded leaves DATABASE_URL unset: the binary starts its own Postgres.
	Embedded bool
	// DataDir defaults to a t.TempDir().
	DataDir string
	// Backend is the byte store: "" or "file" (the default), or "s3". For "s3" the server
	// runs STORAGE_BACKEND=s3 against MinIO, or against a fresh miniotest server when MinIO
	// is nil. Env still overrides every variable this sets.
	Backend string
	// MinIO is the upstream of an "s3" server; several servers may share one (same bucket).
	MinIO *miniotest.MinIO
	// MultiTenant runs the server in multi-tenant mode with the suite's database as one
	// tenant behind a proxy that names it (multitenant.go).
	MultiTenant bool
}

// BackendsEnv names the variable that narrows Backends, e.g. STOWAGE_TEST_BACKENDS=file.
const BackendsEnv = "STOWAGE_TEST_BACKENDS"

// Backends are the byte stores a conformance suite runs against: "file" and "s3", or the
// comma-separated list in $STOWAGE_TEST_BACKENDS.
func Backends() []string {
	if v := os.Getenv(BackendsEnv); v != "" {
		var out []string
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				out = append(out, b)
			}
		}
		return out
	}
	return []string{"file", "s3"}
}

// ForEachBackend runs fn as one named subtest per backend of Backends.
func ForEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// S3Env is the environment that points a server at MinIO m's test bucket.
func S3Env(m *miniotest.MinIO) map[string]string {
	return map[string]string{
		"STORAGE_BACKEND": "s3", "STORAGE_S3_BUCKET": m.Bucket, "STORAGE_S3_ENDPOINT": m.Endpoint,
		"STORAGE_S3_REGION": "us-east-1", "STORAGE_S3_FORCE_PATH_STYLE": "true",
		"AWS_ACCESS_KEY_ID": m.AccessKey, "AWS_SECRET_ACCESS_KEY": m.Secret,
	}
}

// Server is a running stowage process.
type Server struct {
	URL        string // http://127.0.0.1:PORT
	Port       int
	DataDir    string
	Backend    string           // "file" or "s3"
	MinIO      *miniotest.MinIO // the upstream of an "s3" server
	ServiceKey string
	AnonKey    string
	Verifier   *auth.Verifier
	// S3AccessKeyID and S3Secret sign S3 requests: the constants of the same names, or
	// the tenant's credentials in multi-tenant mode.
	S3AccessKeyID, S3Secret string
	// MultiTenant reports Options.MultiTenant (restarts keep it).
	MultiTenant bool
	// AdminPort is the admin API's port of a multi-tenant server (key AdminAPIKey), else 0.
	AdminPort int
	// S3Port is the port of the S3_PORT listener's root, 0 without S3_PORT; in
	// multi-tenant mode the port of the proxy in front of it.
	S3Port  int
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{}
	waitErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs the binary and waits until /status answers 200.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	env := map[string]string{
		"PATH": os.Getenv("PATH"), "SERVER_HOST": "127.0.0.1", "LOG_LEVEL": "warn",
		"AUTH_JWT_SECRET": JWTSecret, "DB_INSTALL_ROLES": "true",
		"S3_PROTOCOL_ACCESS_KEY_ID": S3AccessKeyID, "S3_PROTOCOL_ACCESS_KEY_SECRET": S3Secret,
	}
	if !opts.Embedded {
		env["DATABASE_URL"] = opts.DatabaseURL
		if env["DATABASE_URL"] == "" {
			env["DATABASE_URL"] = pgtest.URL(t)
		}
	} else {
		delete(env, "AUTH_JWT_SECRET")
		delete(env, "S3_PROTOCOL_ACCESS_KEY_ID")
		delete(env, "S3_PROTOCOL_ACCESS_KEY_SECRET")
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	env["STOWAGE_DATA_DIR"] = opts.DataDir
	switch opts.Backend {
	case "", "file":
		opts.Backend = "file"
	case "s3":
		if opts.MinIO == nil {
			opts.MinIO = miniotest.Start(t)
		}
		for k, v := range S3Env(opts.MinIO) {
			env[k] = v
		}
	default:
		t.Fatalf("harness: unknown backend %q", opts.Backend)
	}
	adminPort, proxyLn := 0, net.Listener(nil)
	if opts.MultiTenant {
		adminPort, proxyLn = prepareMultiTenant(t, env)
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	// FreePort's port may be taken by another process before the server binds it; then the
	// server exits at once, and a new port is tried.
	for attempt := 1; ; attempt++ {
		s := launch(t, env, opts)
		err := s.waitReady(90 * time.Second)
		if err == nil {
			if opts.MultiTenant {
				s.MultiTenant = true
				s.frontTenant(t, adminPort, proxyLn, env["DATABASE_URL"], s.S3Port)
			}
			return s
		}
		if attempt < 3 && s.exited() && strings.Contains(s.Output(), "SERVER_PORT: listen") &&
			strings.Contains(s.Output(), "address already in use") {
			t.Logf("harness: port %d was taken before the server bound it; trying another", s.Port)
			continue
		}
		t.Fatal(err)
	}
}

// launch starts one server process on a new free port.
func launch(t testing.TB, env map[string]string, opts Options) *Server {
	t.Helper()
	port := FreePort(t)
	cmd := exec.Command(Binary(t), "serve")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "SERVER_PORT="+strconv.Itoa(port))
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Port: port, DataDir: opts.DataDir, cmd: cmd,
		Backend: opts.Backend, MinIO: opts.MinIO, out: &syncBuffer{}, done: make(chan struct{}),
		S3AccessKeyID: S3AccessKeyID, S3Secret: S3Secret}
	s.S3Port, _ = strconv.Atoi(env["S3_PORT"])
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		if t.Failed() {
			t.Logf("server output:\n%s", s.Output())
		}
	})
	if env["AUTH_JWT_SECRET"] != "" {
		s.Verifier, _ = auth.NewVerifier(env["AUTH_JWT_SECRET"], "HS256", roles)
		s.ServiceKey, _ = s.Verifier.NewKey("service_role", time.Hour)
		s.AnonKey, _ = s.Verifier.NewKey("anon", time.Hour)
	}
	return s
}

// exited reports whether the process has ended.
func (s *Server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// WaitReady polls /status (never a fixed sleep).
func (s *Server) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := s.waitReady(timeout); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s.exited() {
			return fmt.Errorf("server exited early: %v\n%s", s.waitErr, s.Output())
		}
		if resp, err := http.Get(s.URL + "/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("server not ready after %v:\n%s", timeout, s.Output())
}

// Output is what the process printed so far.
func (s *Server) Output() string { return s.out.String() }

// PID is the process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// UserKey mints a JWT for an authenticated user.
func (s *Server) UserKey(t testing.TB, sub string) string {
	t.Helper()
	k, err := s.Verifier.Sign(map[string]any{"role": "authenticated", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Stop sends SIGTERM and waits for a clean exit.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", s.waitErr, s.Output())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
}

// Signal sends sig to the process.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// WaitExit waits for the process to exit cleanly on its own.
func (s *Server) WaitExit(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Fatalf("exit: %v\n%s", s.waitErr, s.Output())
		}
	case <-time.After(timeout):
		t.Fatalf("server did not exit within %v", timeout)
	}
}

// Kill stops the process at once, as a crash would.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// PeakRSS reads VmHWM, the process's peak resident set, in bytes.
func (s *Server) PeakRSS(t testing.TB) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no VmHWM in /proc/pid/status")
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// Do sends a request with an optional bearer key; size < 0 means unknown (chunked).
func Do(t testing.TB, method, url, key string, body io.Reader, size int64, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = size
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// MustStatus fails the test unless resp has status want; it returns the body.
func MustStatus(t testing.TB, resp *http.Response, want int) []byte {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, b)
	}
	return b
}
