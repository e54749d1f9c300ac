package pgcluster_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db/pgcluster"
)

// startGuard only catches a Start that hangs: initdb and the first start can take most of a
// minute on a loaded 2-core machine, so it is far above that.
const startGuard = 5 * time.Minute

func startCluster(t *testing.T, dir string) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startGuard)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Throwaway: true, Logf: t.Logf})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func ping(t *testing.T, c *pgcluster.Cluster, dbname string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL(dbname))
	if err != nil {
		t.Fatalf("connect %s: %v", dbname, err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "select 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("select 1: %d, %v", n, err)
	}
}

// TestRestart covers the lifecycle an embedded server goes through: first start runs
// initdb; a later start (clean stop, or a crash that left a stale postmaster.pid) reuses
// the cluster and keeps its data.
func TestRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pg")
	c := startCluster(t, dir)
	if err := c.CreateDatabase(context.Background(), "kept", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	// A process that is alive but not postgres, as after PID reuse in a container.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	// A process that has exited, as after a plain crash.
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		pid  int
	}{
		{name: "clean stop", pid: 0},
		{name: "stale pid of a live unrelated process", pid: sleeper.Process.Pid},
		{name: "stale pid of a dead process", pid: done.Process.Pid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pid != 0 {
				pidFile := filepath.Join(dir, "pgdata", "postmaster.pid")
				content := strconv.Itoa(tc.pid) + "\n" + filepath.Join(dir, "pgdata") + "\n"
				if err := os.WriteFile(pidFile, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := startCluster(t, dir)
			ping(t, c, "kept")
			if err := c.Stop(context.Background()); err != nil {
				t.Fatalf("Stop: %v", err)
			}
		})
	}
}

func TestOneOwnerPerFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startCluster(t, dir)
	if c, err := pgcluster.Start(context.Background(), pgcluster.Options{Dir: dir}); err == nil {
		_ = c.Stop(context.Background())
		t.Fatal("second Start on a folder in use succeeded")
	}
}

func TestFixedPortInUse(t *testing.T) {
	t.Parallel()
	c := startCluster(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), startGuard)
	defer cancel()
	other, err := pgcluster.Start(ctx, pgcluster.Options{Dir: t.TempDir(), Port: c.Port(), Throwaway: true})
	if err == nil {
		_ = other.Stop(context.Background())
		t.Fatal("Start on a taken port succeeded")
	}
	t.Logf("expected error: %v", err)
}

// TestHelperProcess is the child of TestDiesWithParent: it starts a cluster, reports
// ready and waits to be killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("PGCLUSTER_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestDiesWithParent")
	}
	if _, err := pgcluster.Start(context.Background(), pgcluster.Options{Dir: dir, Throwaway: true}); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("READY")
	select {}
}

// TestDiesWithParent: a process killed without calling Stop (a crashed server, a test
// binary hitting its timeout) must not leave its cluster running.
func TestDiesWithParent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	child.Env = append(os.Environ(), "PGCLUSTER_HELPER_DIR="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "READY") {
		_ = child.Process.Kill()
		_ = child.Wait()
		t.Fatalf("helper: %q", line)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pgdata", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatal(err)
	}
	_ = child.Process.Kill()
	_ = child.Wait()

	deadline := time.Now().Add(startGuard)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGQUIT)
			t.Fatalf("postgres (pid %d) still running %v after its parent died", pid, startGuard)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie waiting for init to reap it does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// TestLocalURL: the embedded default's URL reaches the server over its unix socket (no
// server address: inet_server_addr is null), and a folder too deep for a socket path
// falls back to loopback TCP.
func TestLocalURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startCluster(t, filepath.Join(t.TempDir(), "pg"))
	conn, err := pgx.Connect(ctx, c.LocalURL("postgres"))
	if err != nil {
		t.Fatalf("connect %s: %v", c.LocalURL("postgres"), err)
	}
	defer conn.Close(ctx)
	var addr *string
	if err := conn.QueryRow(ctx, "select host(inet_server_addr())").Scan(&addr); err != nil {
		t.Fatal(err)
	}
	if addr != nil {
		t.Fatalf("LocalURL %s connected over TCP to %s, want the unix socket", c.LocalURL("postgres"), *addr)
	}

	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 90), "pg")
	d := startCluster(t, deep)
	if got, want := d.LocalURL("postgres"), d.URL("postgres"); got != want {
		t.Fatalf("LocalURL with a socket path too long = %s, want the TCP URL %s", got, want)
	}
	conn2, err := pgx.Connect(ctx, d.LocalURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	if err := conn2.QueryRow(ctx, "select host(inet_server_addr())").Scan(&addr); err != nil || addr == nil || *addr != "127.0.0.1" {
		t.Fatalf("TCP fallback: server address %v, %v", addr, err)
	}
}
