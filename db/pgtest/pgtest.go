// Package pgtest gives each test its own throw-away Postgres database.
//
// URL(t) returns a new database with the current migrations applied (roles installed),
// dropped when the test ends. Databases are copies of a template migrated once per
// migration checksum, so a new one costs a CREATE DATABASE, not a migration run.
//
// The cluster: STOWAGE_TEST_DATABASE_URL, when set, is a superuser URL (postgres://…) of
// a running cluster (`make test` starts one). Otherwise the first use starts a private
// cluster in a temporary folder (package pgcluster), one per test binary. Packages that
// use pgtest must stop it when their tests end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without that the cluster still shuts down when the test binary exits (Linux), but its
// folder is left in the temporary directory until a later run sweeps it.
//
// Several test binaries run at once against one cluster (go test ./...): template
// creation is serialised by an advisory lock in the cluster's postgres database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db/migrations"
	"github.com/stowage/stowage/db/pgcluster"
)

// EnvURL names the variable holding a superuser URL of a running test cluster.
const EnvURL = "STOWAGE_TEST_DATABASE_URL"

// setupTimeout bounds starting the cluster and building the template.
const setupTimeout = 3 * time.Minute

// templateLockKey serialises template creation across test binaries ("pgtest").
const templateLockKey int64 = 0x7067746573740

// tempPrefix names the folders of private clusters in os.TempDir.
const tempPrefix = "stowage-pgtest-"

// state is per test binary: one cluster, one template. Package-level because the
// cluster is shared by every test of the binary and stopped by Main.
var state struct {
	mu       sync.Mutex
	cluster  *pgcluster.Cluster // nil when EnvURL is used
	dir      string             // the private cluster's folder
	superURL string             // superuser URL of the cluster's "postgres" database
	template string             // name of the migrated template database
	err      error              // sticky setup failure
}

// Main runs the tests, then stops the private cluster (if one was started) and removes
// its folder. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	stop()
	os.Exit(code)
}

func stop() {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = state.cluster.Stop(ctx)
		_ = os.RemoveAll(state.dir)
		state.cluster = nil
	}
}

// URL returns the URL of a new, fully migrated database (superuser login), dropped when
// t ends.
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// EmptyURL returns the URL of a new database without any migration, dropped when t
// ends: for tests of the migrations themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

// Pool returns a pool on URL(t), closed when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	super, template, err := setup(migrated)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if !migrated {
		template = "template0"
	}
	name := "stowage_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, super)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	q := fmt.Sprintf("create database %s template %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize())
	if _, err := conn.Exec(ctx, q); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { drop(super, name) })
	return withDatabase(super, name)
}

// drop removes a test database, disconnecting leftover sessions. Failures are ignored:
// the database is throw-away and the cluster with it.
func drop(super, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, super)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)")
}

// setup starts or finds the cluster and, when migrated is set, the template.
func setup(migrated bool) (superURL, template string, err error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.err != nil {
		return "", "", state.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if state.superURL == "" {
		if state.err = startCluster(ctx); state.err != nil {
			return "", "", state.err
		}
	}
	if migrated && state.template == "" {
		name := "stowage_template_" + migrations.Checksum()[:16]
		if state.err = ensureTemplate(ctx, state.superURL, name); state.err != nil {
			return "", "", state.err
		}
		state.template = name
	}
	return state.superURL, state.template, nil
}

func startCluster(ctx context.Context) error {
	if u := os.Getenv(EnvURL); u != "" {
		if _, err := url.Parse(u); err != nil || !strings.Contains(u, "://") {
			return fmt.Errorf("%s must be a postgres:// URL", EnvURL)
		}
		state.superURL = u
		return nil
	}
	sweepStaleClusters()
	dir, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		return err
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		Dir:       dir,
		Throwaway: true,
		// Several test binaries share one machine; each test holds a pool or two.
		Settings: map[string]string{"max_connections": "300"},
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	state.cluster, state.dir, state.superURL = c, dir, c.URL("postgres")
	return nil
}

// sweepStaleClusters removes folders of private clusters whose test binary died before
// Main could remove them. A live cluster holds the flock on its cluster.lock; the age
// check leaves alone a folder another binary has just created and not yet locked.
func sweepStaleClusters() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, dir := range matches {
		fi, err := os.Stat(dir)
		if err != nil || time.Since(fi.ModTime()) < 10*time.Minute {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, "cluster.lock"), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			_ = os.RemoveAll(dir)
		}
		_ = f.Close()
	}
}

// ensureTemplate creates and migrates database name unless a previous run finished it.
// A finished template is marked IS_TEMPLATE; one without the mark was left half-built
// by a crashed run and is rebuilt. The advisory lock is taken in the superuser URL's
// database, which every binary connects to, so only one binary builds at a time.
func ensureTemplate(ctx context.Context, super, name string) error {
	conn, err := pgx.Connect(ctx, super)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", templateLockKey); err != nil {
		return err
	}
	// Closing the connection releases the lock.

	var isTemplate *bool
	err = conn.QueryRow(ctx, "select datistemplate from pg_database where datname = $1", name).Scan(&isTemplate)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if isTemplate != nil && *isTemplate {
		return nil
	}
	ident := pgx.Identifier{name}.Sanitize()
	if isTemplate != nil {
		if _, err := conn.Exec(ctx, "drop database "+ident+" with (force)"); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, "create database "+ident+" template template0"); err != nil {
		return err
	}
	if err := migrate(ctx, withDatabase(super, name)); err != nil {
		return fmt.Errorf("migrate template %s: %w", name, err)
	}
	_, err = conn.Exec(ctx, "alter database "+ident+" is_template true")
	return err
}

func migrate(ctx context.Context, dbURL string) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	// Closed before the template is copied: CREATE DATABASE … TEMPLATE refuses a
	// template with open sessions.
	defer pool.Close()
	return migrations.Apply(ctx, pool, migrations.Options{InstallRoles: true})
}

// withDatabase replaces the database of a postgres:// URL.
func withDatabase(super, name string) string {
	u, err := url.Parse(super)
	if err != nil {
		return super
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
