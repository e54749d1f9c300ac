package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/auth"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the real stowage binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stowage-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "stowage")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a running stowage process.
type proc struct {
	cmd     *exec.Cmd
	base    string
	out     *syncBuffer
	done    chan struct{} // closed when the process exited
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

func start(t *testing.T, env map[string]string) *proc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SERVER_HOST=127.0.0.1", "SERVER_PORT=" + strconv.Itoa(port), "LOG_LEVEL=warn"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("server output:\n%s", p.out.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second) // embedded mode runs initdb first
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("server exited early: %v\n%s", p.waitErr, p.out.String())
		default:
		}
		if resp, err := http.Get(p.base + "/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server not ready:\n%s", p.out.String())
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.waitErr != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.waitErr, p.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
}

// peakRSS reads VmHWM, the process's peak resident set, in bytes.
func (p *proc) peakRSS(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no VmHWM")
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func do(t *testing.T, method, url, key string, body io.Reader, size int64, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
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

func mustStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, b)
	}
}

// TestServeLargeObjectBoundedMemory round-trips 1 GiB through the real binary and checks
// the server's peak RSS stays under 100 MiB: bodies are streamed, never held.
func TestServeLargeObjectBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB")
	}
	secret := "e2e-secret-with-enough-length-0123456789"
	p := start(t, map[string]string{"DATABASE_URL": pgtest.URL(t), "AUTH_JWT_SECRET": secret,
		"STOWAGE_DATA_DIR": t.TempDir(), "DB_INSTALL_ROLES": "true"})
	v, _ := auth.NewVerifier(secret, "HS256", auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"})
	key, _ := v.NewKey("service_role", time.Hour)

	resp := do(t, "POST", p.base+"/bucket", key, strings.NewReader(`{"name":"big"}`), -1, map[string]string{"Content-Type": "application/json"})
	mustStatus(t, resp, 200)
	resp.Body.Close()

	const size = 1 << 30
	src := io.LimitReader(rand.New(rand.NewSource(42)), size)
	want := sha256.New()
	resp = do(t, "POST", p.base+"/object/big/one-gib.bin", key, io.TeeReader(src, want), size, map[string]string{"Content-Type": "application/octet-stream"})
	mustStatus(t, resp, 200)
	resp.Body.Close()

	resp = do(t, "GET", p.base+"/object/authenticated/big/one-gib.bin", key, nil, 0, nil)
	mustStatus(t, resp, 200)
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("download: %d bytes, err %v, equal %v", n, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	rss := p.peakRSS(t)
	t.Logf("peak RSS after a 1 GiB upload and download: %.1f MiB", float64(rss)/(1<<20))
	if rss > 100<<20 {
		t.Fatalf("peak RSS %d MiB, want < 100 MiB", rss>>20)
	}
	p.stop(t)
}

// TestEmbeddedMode is `make run`: no DATABASE_URL, so the binary starts its own Postgres,
// generates a secret, prints keys, serves, and stops everything on SIGTERM.
func TestEmbeddedMode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs initdb")
	}
	data := t.TempDir()
	p := start(t, map[string]string{"STOWAGE_DATA_DIR": data})
	keys := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.Contains(k, " ") {
			keys[k] = v
		}
	}
	service := keys["SUPABASE_SERVICE_ROLE_KEY"]
	if service == "" || keys["SUPABASE_ANON_KEY"] == "" || keys["AWS_ACCESS_KEY_ID"] == "" || keys["AWS_SECRET_ACCESS_KEY"] == "" {
		t.Fatalf("keys not printed:\n%s", p.out.String())
	}
	resp := do(t, "POST", p.base+"/storage/v1/bucket", service, strings.NewReader(`{"name":"dev"}`), -1, map[string]string{"Content-Type": "application/json"})
	mustStatus(t, resp, 200)
	resp = do(t, "POST", p.base+"/object/dev/hello.txt", service, strings.NewReader("hello"), 5, map[string]string{"Content-Type": "text/plain"})
	mustStatus(t, resp, 200)
	resp = do(t, "GET", p.base+"/object/authenticated/dev/hello.txt", service, nil, 0, nil)
	mustStatus(t, resp, 200)
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("read back %q", b)
	}
	resp = do(t, "GET", p.base+"/object/authenticated/dev/hello.txt", keys["SUPABASE_ANON_KEY"], nil, 0, nil)
	mustStatus(t, resp, 400) // anon without a policy: not found, as the reference answers
	p.stop(t)
	if _, err := os.Stat(filepath.Join(data, "postgres", "pgdata", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("embedded postgres still running after SIGTERM (postmaster.pid: %v)", err)
	}

	// A restart reuses the cluster, the data and the generated secret: old keys still work.
	p = start(t, map[string]string{"STOWAGE_DATA_DIR": data})
	resp = do(t, "GET", p.base+"/object/authenticated/dev/hello.txt", service, nil, 0, nil)
	mustStatus(t, resp, 200)
	p.stop(t)
	_ = context.Background
}
