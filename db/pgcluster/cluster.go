// Package pgcluster runs a private PostgreSQL cluster from the system's server binaries:
// the embedded database of `stowage serve` when DATABASE_URL is unset, and the throw-away
// cluster of the tests (see package pgtest).
//
// The cluster listens on 127.0.0.1 only, trusts every local connection as the superuser
// "postgres", and runs as a child of the calling process. Callers Stop it; on Linux the
// kernel also shuts it down (SIGINT, a fast shutdown) when the calling process dies, so a
// crash does not leave it running. One process at a time may use a cluster folder.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Superuser is the cluster's superuser role; local connections need no password.
const Superuser = "postgres"

// readyTimeout bounds how long Start waits for a freshly started server to accept
// connections when ctx has no earlier deadline (crash recovery after an unclean stop can
// take a while on a slow disk).
const readyTimeout = 2 * time.Minute

// Options configures Start.
type Options struct {
	// Dir holds everything: pgdata/ (the cluster), run/ (the unix socket), postgres.log
	// and the lock file. Created when missing; initdb runs only when pgdata is absent.
	Dir string
	// Port is the loopback TCP port; 0 picks a free one.
	Port int
	// Throwaway trades durability for speed (initdb --no-sync, fsync=off,
	// synchronous_commit=off, full_page_writes=off). For test clusters only: a machine
	// crash can corrupt such a cluster.
	Throwaway bool
	// Settings are extra server settings passed as -c name=value (e.g. max_connections).
	Settings map[string]string
	// Logf, when set, receives one line per lifecycle step. The server's own log goes
	// to Dir/postgres.log.
	Logf func(format string, args ...any)
}

// Cluster is a running private PostgreSQL server. Stop it when done.
type Cluster struct {
	dir     string
	dataDir string
	sockDir string
	binDir  string
	port    int
	as      account
	logf    func(string, ...any)

	lock    *os.File // flock held while we own Dir
	logFile *os.File // the server's stdout and stderr
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error         // cmd.Wait's result, readable after exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Start initialises Dir/pgdata when absent and starts the server on 127.0.0.1, returning
// once it accepts connections. A postmaster.pid left behind by a crashed run is handled:
// a surviving server of that run is shut down first, a stale file is removed.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{
		dir:     dir,
		dataDir: filepath.Join(dir, "pgdata"),
		sockDir: filepath.Join(dir, "run"),
		logf:    opts.Logf,
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if err := c.prepare(); err != nil {
		c.release()
		return nil, err
	}
	if err := c.initdb(ctx, opts.Throwaway); err != nil {
		c.release()
		return nil, err
	}
	if err := c.clearStalePID(ctx); err != nil {
		c.release()
		return nil, err
	}
	// A port picked by us can be taken by someone else before postgres binds it: retry
	// with a fresh one. A port chosen by the caller is tried once.
	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	for i := 0; ; i++ {
		c.port = opts.Port
		if c.port == 0 {
			if c.port, err = freePort(); err != nil {
				c.release()
				return nil, err
			}
		}
		err = c.launch(ctx, opts)
		if err == nil {
			c.logf("pgcluster: postgres ready on 127.0.0.1:%d (data %s)", c.port, c.dataDir)
			return c, nil
		}
		if !errors.Is(err, errPortInUse) || i+1 >= attempts {
			c.release()
			return nil, err
		}
		c.logf("pgcluster: port %d taken, retrying", c.port)
	}
}

// Port is the loopback TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// PID is the process id of the server (the postmaster), 0 before Start finished: for
// tests that signal the server themselves (SIGSTOP to simulate a hung database).
func (c *Cluster) PID() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Dir is the folder given in Options.Dir, made absolute.
func (c *Cluster) Dir() string { return c.dir }

// URL is a connection URL for database dbname as the superuser.
func (c *Cluster) URL(dbname string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, c.port, url.PathEscape(dbname))
}

// LocalURL is URL for dbname over the server's unix socket when it has one (TCP
// otherwise): a process on this machine (the embedded default) talks to Postgres with
// less kernel work per round trip than over loopback TCP.
func (c *Cluster) LocalURL(dbname string) string {
	if !c.socketFits() {
		return c.URL(dbname)
	}
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", Superuser, url.PathEscape(dbname),
		url.QueryEscape(c.sockDir), c.port)
}

// socketFits reports whether the socket's path fits a sockaddr_un (108 bytes with the
// lock file's name; Postgres refuses longer).
func (c *Cluster) socketFits() bool { return len(c.sockDir)+len("/.s.PGSQL.65535.lock") <= 100 }

// CreateDatabase creates database name as a copy of template ("" for the server's
// default, template1).
func (c *Cluster) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	q := "create database " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		q += " template " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down the way `pg_ctl stop -m fast` does (SIGINT: sessions are
// terminated, a shutdown checkpoint is written) and waits for it to exit. If ctx ends
// first the server gets SIGQUIT (immediate shutdown; crash recovery on next start), then
// SIGKILL. Stop is safe to call more than once.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.stopErr = c.stop(ctx)
		c.release()
	})
	return c.stopErr
}

func (c *Cluster) stop(ctx context.Context) error {
	if c.cmd == nil {
		return nil
	}
	select {
	case <-c.exited:
		return fmt.Errorf("pgcluster: postgres had already exited: %v%s", c.waitErr, c.logTail())
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
		c.logf("pgcluster: postgres on port %d stopped", c.port)
		return nil
	case <-ctx.Done():
	}
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	return fmt.Errorf("pgcluster: fast shutdown did not finish: %w", ctx.Err())
}

// release gives up the files Start opened.
func (c *Cluster) release() {
	if c.logFile != nil {
		_ = c.logFile.Close()
		c.logFile = nil
	}
	if c.lock != nil {
		_ = c.lock.Close() // closing drops the flock
		c.lock = nil
	}
}

// prepare creates Dir and its sub-folders, hands them to the server account and takes
// the folder lock.
func (c *Cluster) prepare() error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	c.binDir = bin
	if c.as, err = serverAccount(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.as.handOver(c.dir, c.logf); err != nil {
		return err
	}
	if err := c.takeLock(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.sockDir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if c.as.cred != nil {
		if err := os.Chown(c.sockDir, c.as.uid, c.as.gid); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	c.logFile, err = os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// takeLock holds an exclusive flock on Dir/cluster.lock for the cluster's lifetime: two
// processes must never run servers on one data folder, and a lock held by nobody tells
// the next Start that any server found running there is an orphan of a dead process.
func (c *Cluster) takeLock() error {
	f, err := os.OpenFile(filepath.Join(c.dir, "cluster.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return fmt.Errorf("pgcluster: %s is in use by another process: %w", c.dir, err)
	}
	c.lock = f
	return nil
}

// initdb creates the cluster unless Dir/pgdata already holds one.
func (c *Cluster) initdb(ctx context.Context, throwaway bool) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	// A pgdata without PG_VERSION is what an interrupted initdb leaves; initdb refuses
	// a non-empty folder, so start over.
	if err := os.RemoveAll(c.dataDir); err != nil {
		return fmt.Errorf("pgcluster: remove incomplete %s: %w", c.dataDir, err)
	}
	args := []string{"-D", c.dataDir, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--locale=C"}
	if throwaway {
		args = append(args, "--no-sync")
	}
	c.logf("pgcluster: initdb %s", c.dataDir)
	cmd := c.command(ctx, "initdb", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// command prepares a server program to run as the server account, in Dir (postgres
// complains when it cannot read its working directory), with PG* variables removed so
// the caller's PGDATA or PGPORT cannot redirect it.
func (c *Cluster) command(ctx context.Context, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, program), args...)
	cmd.Dir = c.dir
	cmd.SysProcAttr = sysProcAttr(c.as.cred, false)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LC_ALL=C")
	return cmd
}

var errPortInUse = errors.New("port in use")

// launch starts postgres as a child and waits until it accepts connections.
func (c *Cluster) launch(ctx context.Context, opts Options) error {
	args := []string{
		"-D", c.dataDir,
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + c.socketSetting(),
	}
	settings := map[string]string{}
	if opts.Throwaway {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}

	// Not exec.CommandContext: the server must outlive Start's ctx.
	cmd := c.command(context.Background(), "postgres", args...)
	cmd.SysProcAttr = sysProcAttr(c.as.cred, true)
	cmd.Stdout, cmd.Stderr = c.logFile, c.logFile
	logStart, _ := c.logFile.Seek(0, 1)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	c.cmd = cmd
	c.exited = make(chan struct{})
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	if err := c.waitReady(ctx); err != nil {
		select {
		case <-c.exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			<-c.exited
		}
		c.cmd = nil
		tail := c.logSince(logStart)
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use") {
			return fmt.Errorf("pgcluster: postgres on port %d: %w", c.port, errPortInUse)
		}
		return fmt.Errorf("%w\n%s", err, tail)
	}
	return nil
}

// socketSetting is the unix socket folder, or "" (no unix socket) when the path would
// pass the kernel's ~107-byte limit for socket names: the server then listens on TCP
// only, which URL always uses and LocalURL falls back to.
func (c *Cluster) socketSetting() string {
	if !c.socketFits() {
		c.logf("pgcluster: %s is too long for a unix socket; TCP only", c.sockDir)
		return ""
	}
	return c.sockDir
}

// waitReady polls until the server accepts a connection, it exits, or the deadline.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		err := c.probe(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("pgcluster: postgres exited during start-up: %v", c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: postgres not accepting connections on port %d: %w (last error: %v)", c.port, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// probe connects and checks that the server answering is ours: when postgres cannot bind
// its port, whatever already listens there would otherwise pass for it.
func (c *Cluster) probe(ctx context.Context) error {
	conn, err := pgconn.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := conn.Exec(ctx, "show data_directory").ReadAll()
	if err != nil {
		return err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != c.dataDir {
		return fmt.Errorf("pgcluster: another server answers on port %d: %w", c.port, errPortInUse)
	}
	return nil
}

// logSince returns the server log written from offset on (at most its last 4 KiB).
func (c *Cluster) logSince(offset int64) string {
	b, err := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	b = b[offset:]
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}

func (c *Cluster) logTail() string {
	if tail := c.logSince(0); tail != "" {
		return "\n" + tail
	}
	return ""
}

// freePort asks the kernel for a free loopback port. Another process may take it before
// postgres binds it; launch reports that as errPortInUse and Start retries.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
