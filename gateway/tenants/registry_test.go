package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/tenants"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testKey = "registry-test-encryption-key"

// controlDB returns a pool on a new, migrated control database.
func controlDB(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	url := pgtest.EmptyURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := db.MigrateMultitenant(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool, url
}

// startRegistry returns a Registry whose Run goroutine is stopped when t ends, once it
// listens.
func startRegistry(t *testing.T, pool *pgxpool.Pool) *tenants.Registry {
	t.Helper()
	r, err := tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "registry listening", r.Listening)
	return r
}

// waitFor polls cond (hang guard two minutes; no timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

func TestMigrateMultitenantTwice(t *testing.T) {
	pool, _ := controlDB(t)
	if err := db.MigrateMultitenant(context.Background(), pool); err != nil {
		t.Fatalf("second run: %v", err)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `select count(*) from stowage_multitenant_migrations`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("recorded migrations = %d, %v; want 3", n, err)
	}
}

// TestUpdateSeenByOtherRegistry: two gateways on one control database; a change written
// through one reaches the other's cache through NOTIFY tenants_update, with its
// subscriber told the id.
func TestUpdateSeenByOtherRegistry(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	a := startRegistry(t, pool)
	pool2, err := pgxpool.New(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool2.Close)
	b := startRegistry(t, pool2)

	var mu sync.Mutex
	var heard []string
	b.Changed(func(id string) { mu.Lock(); heard = append(heard, id); mu.Unlock() })

	if err := a.Create(ctx, "t1", tenants.Config{AnonKey: ptr("anon"), DatabaseURL: ptr("postgres://x/db1"),
		JWTSecret: ptr("secret-1"), ServiceKey: ptr("service"), FileSizeLimit: ptr(int64(1000))}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if got.JWTSecret != "secret-1" || got.DatabaseURL != "postgres://x/db1" || got.FileSizeLimit != 1000 || !got.S3Protocol || got.ImageTransformation {
		t.Fatalf("b.Get = %+v", got)
	}
	// b has t1 cached now; rotate the secret through a.
	if err := a.Patch(ctx, "t1", tenants.Config{JWTSecret: ptr("secret-2")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to see the rotated secret", func() bool {
		got, err := b.Get(ctx, "t1")
		return err == nil && got.JWTSecret == "secret-2"
	})
	waitFor(t, "b's subscriber to hear t1", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range heard {
			if id == "t1" {
				return true
			}
		}
		return false
	})
	// Deleted through a: b stops serving it.
	if found, err := a.Delete(ctx, "t1"); err != nil || !found {
		t.Fatalf("delete = %v, %v", found, err)
	}
	waitFor(t, "b to see the deletion", func() bool {
		_, err := b.Get(ctx, "t1")
		return errors.Is(err, tenants.ErrNotFound)
	})
}

// TestCacheServesWithoutDatabaseRead proves the cache is used: a row changed behind the
// trigger's back (triggers disabled, as a lost notification) keeps the cached value until
// a notification or reconnect.
func TestCacheServesWithoutDatabaseRead(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	r := startRegistry(t, pool)
	heard := make(chan string, 16)
	r.Changed(func(id string) { heard <- id })
	if err := r.Create(ctx, "t1", tenants.Config{AnonKey: ptr("a"), DatabaseURL: ptr("postgres://x/y"), JWTSecret: ptr("s1"), ServiceKey: ptr("k")}); err != nil {
		t.Fatal(err)
	}
	// Create forgets t1 at once, then its INSERT's notification arrives: wait for both, so
	// the late notification does not empty the cache under the check below.
	for range 2 {
		select {
		case <-heard:
		case <-time.After(2 * time.Minute):
			t.Fatal("the insert's notification never arrived")
		}
	}
	if _, err := r.Get(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	// Change the row silently.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `set local session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `update tenants set file_size_limit = 7 where id = 't1'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Get(ctx, "t1"); got.FileSizeLimit == 7 {
		t.Fatal("Get read the database: the cache is not used")
	}
	// A notification (here the reference's own trigger payload, sent by hand) refreshes it.
	if _, err := pool.Exec(ctx, `select pg_notify('tenants_update', '"t1"')`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notified tenant to be re-read", func() bool {
		got, err := r.Get(ctx, "t1")
		return err == nil && got.FileSizeLimit == 7
	})
}

// TestReconnectForgetsEverything: when the LISTEN connection is killed, the registry
// reconnects, drops its cache and tells subscribers "" (notifications may have been lost).
func TestReconnectForgetsEverything(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	r := startRegistry(t, pool)
	heard := make(chan string, 16)
	r.Changed(func(id string) { heard <- id })
	if err := r.Create(ctx, "t1", tenants.Config{AnonKey: ptr("a"), DatabaseURL: ptr("postgres://x/y"), JWTSecret: ptr("s1"), ServiceKey: ptr("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	// Kill the listener's backend.
	if _, err := pool.Exec(ctx, `select pg_terminate_backend(pid) from pg_stat_activity
		where query like 'listen%' and pid <> pg_backend_pid() and datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case id := <-heard:
			if id == "" {
				waitFor(t, "the registry to listen again", r.Listening)
				return
			}
		case <-deadline:
			t.Fatal("no Changed(\"\") after the listener was killed")
		}
	}
}

// TestReferenceCiphertext: a row written as the reference writes it (secrets encrypted by
// CryptoJS = `openssl enc -aes-256-cbc -md md5`, inserted with plain SQL) decrypts.
func TestReferenceCiphertext(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed; gateway/passphrase TestDecryptOpenSSLVector covers the format")
	}
	ctx := context.Background()
	pool, _ := controlDB(t)
	seal := func(plain string) string {
		cmd := exec.Command(bin, "enc", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-salt", "-pass", "pass:"+testKey)
		cmd.Stdin = strings.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	if _, err := pool.Exec(ctx, `insert into tenants (id, anon_key, database_url, database_pool_url, jwt_secret, service_key, jwks, feature_image_transformation)
		values ('ref', $1, $2, $3, $4, $5, '{"keys":[]}', true)`,
		seal("anon-jwt"), seal("postgres://u:p@db:5432/postgres"), seal("postgres://u:p@pooler:6543/postgres"),
		seal("jwt-secret"), seal("service-jwt")); err != nil {
		t.Fatal(err)
	}
	r, err := tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "ref")
	if err != nil {
		t.Fatal(err)
	}
	want := tenants.Tenant{ID: "ref", AnonKey: "anon-jwt", DatabaseURL: "postgres://u:p@db:5432/postgres",
		DatabasePoolURL: "postgres://u:p@pooler:6543/postgres", JWTSecret: "jwt-secret", ServiceKey: "service-jwt",
		JWKS: `{"keys": []}`, FileSizeLimit: 52428800, ImageTransformation: true, S3Protocol: true}
	if *got != want {
		t.Fatalf("got  %+v\nwant %+v", *got, want)
	}
	// And the other way: what the registry writes, openssl opens.
	if err := r.Patch(ctx, "ref", tenants.Config{JWTSecret: ptr("rotated")}); err != nil {
		t.Fatal(err)
	}
	var sealed string
	if err := pool.QueryRow(ctx, `select jwt_secret from tenants where id = 'ref'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "enc", "-d", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-pass", "pass:"+testKey)
	cmd.Stdin = strings.NewReader(sealed)
	out, err := cmd.Output()
	if err != nil || string(out) != "rotated" {
		t.Fatalf("openssl read %q, %v", out, err)
	}
	// A wrong key is an error, not garbage.
	wrong, _ := tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: "other"})
	if _, err := wrong.Get(ctx, "ref"); err == nil {
		t.Fatal("a wrong ENCRYPTION_KEY decrypted")
	}
}

func TestGetUnknownAndDuplicate(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	r := startRegistry(t, pool)
	if _, err := r.Get(ctx, "nope"); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("Get unknown = %v", err)
	}
	cfg := tenants.Config{AnonKey: ptr("a"), DatabaseURL: ptr("postgres://x/y"), JWTSecret: ptr("s"), ServiceKey: ptr("k")}
	if err := r.Create(ctx, "t", cfg); err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, "t", cfg); !errors.Is(err, tenants.ErrExists) {
		t.Fatalf("second Create = %v", err)
	}
	if err := r.Patch(ctx, "nope", cfg); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("Patch unknown = %v", err)
	}
	if err := r.Upsert(ctx, "t", tenants.Config{AnonKey: ptr("a2"), DatabaseURL: ptr("postgres://x/z"), JWTSecret: ptr("s2"), ServiceKey: ptr("k2"), DatabasePoolURL: ptr("postgres://pool")}); err != nil {
		t.Fatal(err)
	}
	if err := r.Patch(ctx, "t", tenants.Config{DatabasePoolURL: ptr("")}); err != nil {
		t.Fatal(err)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 1 || list[0].AnonKey != "a2" || list[0].DatabasePoolURL != "" || list[0].DatabaseURL != "postgres://x/z" {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

// TestReferenceVector: a fixed ciphertext made by `openssl enc -aes-256-cbc -md md5` (the
// reference's CryptoJS format) in a database_url column decrypts, without openssl here.
func TestReferenceVector(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	const vector = "U2FsdGVkX1+tAQ9Zb5/fFrrt/5ON6wz/87MvEG7qLdE9pJxGHcFlCk6HRHPwtl9iFAcKAjXNEgvJYX1j63wqbg=="
	if _, err := pool.Exec(ctx, `insert into tenants (id, anon_key, database_url, jwt_secret, service_key) values ('v', '', $1, '', '')`, vector); err != nil {
		t.Fatal(err)
	}
	r, err := tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: "my-encryption-key"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "v")
	if err != nil || got.DatabaseURL != "postgres://u:p@db:5432/postgres?sslmode=disable" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

// BenchmarkChangePropagation measures how long a secret rotation written through one
// gateway's Registry takes to show in another's Get (NOTIFY tenants_update round trip).
func BenchmarkChangePropagation(b *testing.B) {
	ctx := context.Background()
	url := pgtest.EmptyURL(b)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if err := db.MigrateMultitenant(ctx, pool); err != nil {
		b.Fatal(err)
	}
	start := func() *tenants.Registry {
		r, err := tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: testKey})
		if err != nil {
			b.Fatal(err)
		}
		c, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = r.Run(c) }()
		b.Cleanup(func() { cancel(); <-done })
		for !r.Listening() {
			time.Sleep(time.Millisecond)
		}
		return r
	}
	a, other := start(), start()
	if err := a.Create(ctx, "t", tenants.Config{AnonKey: ptr("a"), DatabaseURL: ptr("postgres://x/y"), JWTSecret: ptr("s0"), ServiceKey: ptr("k")}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		secret := fmt.Sprintf("s%d", i+1)
		if err := a.Patch(ctx, "t", tenants.Config{JWTSecret: &secret}); err != nil {
			b.Fatal(err)
		}
		for {
			got, err := other.Get(ctx, "t")
			if err != nil {
				b.Fatal(err)
			}
			if got.JWTSecret == secret {
				break
			}
		}
	}
}

// TestFleetCancelStopsAfterCurrentTenant: a job cancelled while its runner migrates the
// first of three tenants (all in one batch) migrates no other tenant.
func TestFleetCancelStopsAfterCurrentTenant(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	r, err := tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c1", "c2", "c3"} {
		if err := r.Create(ctx, id, tenants.Config{AnonKey: ptr("a"), DatabaseURL: ptr("postgres://x/" + id), JWTSecret: ptr("s"), ServiceKey: ptr("k")}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var migrated []string
	run := func(ctx context.Context, tn *tenants.Tenant) error {
		mu.Lock()
		migrated = append(migrated, tn.ID)
		first := len(migrated) == 1
		mu.Unlock()
		if first {
			if ok, err := r.CancelFleet(ctx); err != nil || !ok {
				t.Errorf("CancelFleet = %v, %v", ok, err)
			}
		}
		return nil
	}
	if _, started, err := r.StartFleet(ctx, run); err != nil || !started {
		t.Fatalf("StartFleet = %v, %v", started, err)
	}
	// The job stops being active only once the runner cancelled it from inside run.
	waitFor(t, "job cancelled", func() bool {
		_, err := r.ActiveFleet(ctx)
		return errors.Is(err, tenants.ErrNotFound)
	})
	waitFor(t, "runner stopped", func() bool { return !r.FleetRunning() })
	mu.Lock()
	defer mu.Unlock()
	if len(migrated) != 1 {
		t.Fatalf("cancelled job migrated %v; want only the tenant it was on", migrated)
	}
	if j, err := r.LastFleet(ctx); err != nil || j.Status != "cancelled" {
		t.Fatalf("LastFleet = %+v, %v", j, err)
	}
}

// TestCloseStopsFleetJob: Close stops a fleet job this gateway runs and waits for it; the
// job stays running in the control database, so the next ResumeFleet carries it on.
func TestCloseStopsFleetJob(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	r, err := tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"d1", "d2"} {
		if err := r.Create(ctx, id, tenants.Config{AnonKey: ptr("a"), DatabaseURL: ptr("postgres://x/" + id), JWTSecret: ptr("s"), ServiceKey: ptr("k")}); err != nil {
			t.Fatal(err)
		}
	}
	entered := make(chan struct{}, 2)
	var stoppedByClose atomic.Bool
	blocking := func(ctx context.Context, tn *tenants.Tenant) error {
		entered <- struct{}{}
		<-ctx.Done() // a migration that only ends when the gateway shuts down
		stoppedByClose.Store(true)
		return ctx.Err()
	}
	if _, started, err := r.StartFleet(ctx, blocking); err != nil || !started {
		t.Fatalf("StartFleet = %v, %v", started, err)
	}
	<-entered
	r.Close() // returns only once the runner has stopped
	if !stoppedByClose.Load() || r.FleetRunning() {
		t.Fatalf("after Close: migration stopped %v, runner still running %v", stoppedByClose.Load(), r.FleetRunning())
	}
	if j, err := r.ActiveFleet(ctx); err != nil {
		t.Fatalf("the job should stay running for the next gateway: ActiveFleet = %+v, %v", j, err)
	}
	// A second Registry (the next start) resumes and finishes it.
	r2, err := tenants.NewRegistry(pool, tenants.RegistryOptions{EncryptionKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	r2.ResumeFleet(func(context.Context, *tenants.Tenant) error { return nil })
	waitFor(t, "resumed job finished", func() bool {
		_, err := r2.ActiveFleet(ctx)
		return errors.Is(err, tenants.ErrNotFound)
	})
}
