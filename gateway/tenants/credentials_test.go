package tenants_test

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/passphrase"
)

// sealReference encrypts plain as the reference does (CryptoJS AES.encrypt = `openssl enc
// -aes-256-cbc -md md5`), with the openssl binary when installed, else gateway/passphrase
// (tested against openssl both ways).
func sealReference(t *testing.T, plain string) string {
	t.Helper()
	if bin, err := exec.LookPath("openssl"); err == nil {
		cmd := exec.Command(bin, "enc", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-salt", "-pass", "pass:"+testKey)
		cmd.Stdin = strings.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	s, err := passphrase.Encrypt(testKey, plain)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// referenceTenants inserts tenants t1 and t2 with plain SQL (their secrets are not read
// here) and returns a second pool on the same control database, for a second gateway.
func referenceTenants(t *testing.T, pool *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `insert into tenants (id, anon_key, database_url, jwt_secret, service_key)
		values ('t1', 'a', 'd', 'j', 's'), ('t2', 'a', 'd', 'j', 's')`); err != nil {
		t.Fatal(err)
	}
	pool2, err := pgxpool.New(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool2.Close)
	return pool2
}

// TestReferenceS3CredentialsAcrossGateways: a credential written as the reference writes
// it (a tenants_s3_credentials row inserted by SQL, secret sealed with the reference's
// encryption) is found for its tenant only, with its claims; deleted through one
// Registry, the other (which had it cached) stops finding it, by NOTIFY.
func TestReferenceS3CredentialsAcrossGateways(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	pool2 := referenceTenants(t, pool)
	a, b := startRegistry(t, pool), startRegistry(t, pool2)

	const key = "0123456789abcdef0123456789abcdef"
	var id string
	if err := pool.QueryRow(ctx, `insert into tenants_s3_credentials (tenant_id, description, access_key, secret_key, claims)
		values ('t1', 'from the reference', $1, $2, '{"role":"authenticated","sub":"user-1","issuer":"supabase.storage.t1"}')
		returning id`, key, sealReference(t, "the-secret")).Scan(&id); err != nil {
		t.Fatal(err)
	}
	secret, claims, err := b.LookupS3Credential(ctx, "t1", key)
	if err != nil || secret != "the-secret" {
		t.Fatalf("lookup = %q, %v", secret, err)
	}
	var c map[string]string
	if err := json.Unmarshal(claims, &c); err != nil || c["role"] != "authenticated" || c["sub"] != "user-1" {
		t.Fatalf("claims = %s, %v", claims, err)
	}
	if _, _, err := b.LookupS3Credential(ctx, "t2", key); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("t1's key as t2: %v, want not found", err)
	}
	list, err := a.S3Credentials(ctx, "t1")
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].AccessKey != key || list[0].Description != "from the reference" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if list, err := a.S3Credentials(ctx, "t2"); err != nil || len(list) != 0 {
		t.Fatalf("t2's list = %+v, %v", list, err)
	}

	// Deleted through a; b had it cached.
	if got, err := a.DeleteS3Credential(ctx, "t1", id); err != nil || got != key {
		t.Fatalf("delete = %q, %v", got, err)
	}
	if _, _, err := a.LookupS3Credential(ctx, "t1", key); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("a after its delete: %v", err)
	}
	waitFor(t, "b to refuse the deleted key", func() bool {
		_, _, err := b.LookupS3Credential(ctx, "t1", key)
		return errors.Is(err, db.ErrNotFound)
	})
	if _, err := a.DeleteS3Credential(ctx, "t1", id); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	// b cached the miss; a key created through a reaches it (the insert trigger).
	created, err := a.CreateS3Credential(ctx, "t1", db.S3Credential{Description: "new", AccessKey: "k2",
		SecretKey: sealReference(t, "s2"), Claims: json.RawMessage(`{"role":"service_role"}`)}, 2)
	if err != nil || created.ID == "" {
		t.Fatalf("create = %+v, %v", created, err)
	}
	waitFor(t, "b to find the created key", func() bool {
		s, _, err := b.LookupS3Credential(ctx, "t1", "k2")
		return err == nil && s == "s2"
	})
	// What Stowage wrote is the reference's layout: claims and the sealed secret, which
	// openssl (the reference's format) opens.
	var sealed, rawClaims string
	if err := pool.QueryRow(ctx, `select secret_key, claims::text from tenants_s3_credentials where id = $1`, created.ID).Scan(&sealed, &rawClaims); err != nil {
		t.Fatal(err)
	}
	if plain, err := passphrase.Decrypt(testKey, sealed); err != nil || plain != "s2" || rawClaims != `{"role":"service_role"}` {
		t.Fatalf("stored %q (%q, %v), claims %s", sealed, plain, err, rawClaims)
	}
	if _, err := a.CreateS3Credential(ctx, "t1", db.S3Credential{Description: "x", AccessKey: "k3", SecretKey: "x", Claims: json.RawMessage(`{}`)}, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateS3Credential(ctx, "t1", db.S3Credential{Description: "x", AccessKey: "k4", SecretKey: "x", Claims: json.RawMessage(`{}`)}, 2); !errors.Is(err, db.ErrLimit) {
		t.Fatalf("third credential with max 2: %v, want ErrLimit", err)
	}

	// Deleting the tenant deletes its credentials (the reference's ON DELETE CASCADE).
	if _, err := a.Delete(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to refuse the deleted tenant's key", func() bool {
		_, _, err := b.LookupS3Credential(ctx, "t1", "k2")
		return errors.Is(err, db.ErrNotFound)
	})
}

// TestS3CredentialCacheUsed: a row deleted behind the triggers' back stays cached until a
// notification (the reference's payload, sent by hand) names its access key.
func TestS3CredentialCacheUsed(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	referenceTenants(t, pool)
	r := startRegistry(t, pool)
	// Inserted and deleted with the triggers off, so no notification is in flight.
	silently := func(sql string, args ...any) {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `set local session_replication_role = replica`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	silently(`insert into tenants_s3_credentials (tenant_id, description, access_key, secret_key)
		values ('t1', 'd', 'ak', $1)`, sealReference(t, "sk"))
	if s, _, err := r.LookupS3Credential(ctx, "t1", "ak"); err != nil || s != "sk" {
		t.Fatalf("lookup = %q, %v", s, err)
	}
	silently(`delete from tenants_s3_credentials where access_key = 'ak'`)
	if s, _, err := r.LookupS3Credential(ctx, "t1", "ak"); err != nil || s != "sk" {
		t.Fatalf("lookup after a silent delete = %q, %v: the cache is not used", s, err)
	}
	if _, err := pool.Exec(ctx, `select pg_notify('tenants_s3_credentials_update', '"t1:ak"')`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notified key to be re-read", func() bool {
		_, _, err := r.LookupS3Credential(ctx, "t1", "ak")
		return errors.Is(err, db.ErrNotFound)
	})
}

// TestJWKSChangesNotified: keys written through one Registry (or by SQL, as a reference
// server) are read by another, whose Changed subscribers hear the tenant on every change.
func TestJWKSChangesNotified(t *testing.T) {
	ctx := context.Background()
	pool, _ := controlDB(t)
	pool2 := referenceTenants(t, pool)
	a, b := startRegistry(t, pool), startRegistry(t, pool2)
	var mu sync.Mutex
	heard := map[string]int{}
	b.Changed(func(id string) { mu.Lock(); heard[id]++; mu.Unlock() })
	heardT1 := func() int { mu.Lock(); defer mu.Unlock(); return heard["t1"] }

	id, err := a.InsertJWK(ctx, "t1", "storage-url-signing-key", sealReference(t, `{"kty":"oct","k":"c2VjcmV0"}`))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to hear the added key", func() bool { return heardT1() >= 1 })
	keys, err := b.ActiveJWKs(ctx, "t1")
	if err != nil || len(keys) != 1 || keys[0].ID != id || keys[0].Kind != "storage-url-signing-key" {
		t.Fatalf("b's keys = %+v, %v", keys, err)
	}
	if plain, err := passphrase.Decrypt(testKey, keys[0].Content); err != nil || plain != `{"kty":"oct","k":"c2VjcmV0"}` {
		t.Fatalf("content = %q, %v", plain, err)
	}
	if _, err := a.InsertJWK(ctx, "t1", "storage-url-signing-key", "x"); !errors.Is(err, db.ErrUniqueViolated) {
		t.Fatalf("second active signing key: %v", err)
	}
	if keys, _ := b.ActiveJWKs(ctx, "t2"); len(keys) != 0 {
		t.Fatalf("t2's keys = %+v", keys)
	}

	n := heardT1()
	if changed, err := a.SetJWKActive(ctx, "t1", id, false); err != nil || !changed {
		t.Fatalf("toggle = %v, %v", changed, err)
	}
	waitFor(t, "b to hear the toggle", func() bool { return heardT1() > n })
	if keys, err := b.ActiveJWKs(ctx, "t1"); err != nil || len(keys) != 0 {
		t.Fatalf("b's keys after the toggle = %+v, %v", keys, err)
	}

	// A reference server's write (plain SQL) is heard the same way.
	n = heardT1()
	if _, err := pool.Exec(ctx, `insert into tenants_jwks (tenant_id, kind, content, active) values ('t1', 'other', $1, true)`,
		sealReference(t, `{"kty":"oct","k":"b3RoZXI"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to hear the SQL insert", func() bool { return heardT1() > n })
}

// TestAdoptsReferenceCredentialTables: a control database whose credential and key tables
// (and their triggers, with the reference's first payload "<credential id>:<access key>")
// a reference server created is migrated without duplicating a trigger, and serves.
func TestAdoptsReferenceCredentialTables(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	// The reference's layout, as its multitenant migrations leave it.
	if _, err := pool.Exec(ctx, `
		create table tenants (id text primary key, anon_key text not null, database_url text not null,
			jwt_secret text not null, service_key text not null);
		create table tenants_s3_credentials (id uuid primary key default gen_random_uuid(),
			description text not null, tenant_id text references tenants(id) on delete cascade,
			access_key text not null, secret_key text not null,
			created_at timestamptz not null default now(), claims json not null default '{}');
		create function tenants_s3_credentials_delete_notify_trigger() returns trigger language plpgsql as $$
		begin perform pg_notify('tenants_s3_credentials_update', '"' || old.id || ':' || old.access_key || '"'); return null; end $$;
		create trigger tenants_s3_credentials_delete_notify_trigger after delete on tenants_s3_credentials
			for each row execute procedure tenants_s3_credentials_delete_notify_trigger();
		create table tenants_jwks (id uuid primary key default gen_random_uuid(),
			tenant_id text references tenants(id) on delete cascade, kind varchar(50) not null,
			content text not null, active boolean not null, created_at timestamptz not null default now());
		create function tenants_jwks_update_notify_trigger() returns trigger language plpgsql as $$
		begin perform pg_notify('tenants_jwks_update', '"' || new.tenant_id || '"'); return null; end $$;
		create trigger tenants_jwks_insert_notify_trigger after insert on tenants_jwks
			for each row execute procedure tenants_jwks_update_notify_trigger();
		insert into tenants values ('t1', 'a', 'd', 'j', 's');`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `insert into tenants_s3_credentials (tenant_id, description, access_key, secret_key, claims)
		values ('t1', 'old', 'ak', $1, '{"role":"service_role"}')`, sealReference(t, "sk")); err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateMultitenant(ctx, pool); err != nil {
		t.Fatalf("migrate over the reference's tables: %v", err)
	}
	for table, want := range map[string]int{"tenants_s3_credentials": 3, "tenants_jwks": 3} {
		var n int
		if err := pool.QueryRow(ctx, `select count(*) from pg_trigger where tgrelid = $1::regclass and not tgisinternal`, table).Scan(&n); err != nil || n != want {
			t.Fatalf("%s triggers = %d, %v; want %d", table, n, err, want)
		}
	}
	r := startRegistry(t, pool)
	if s, _, err := r.LookupS3Credential(ctx, "t1", "ak"); err != nil || s != "sk" {
		t.Fatalf("lookup = %q, %v", s, err)
	}
	if _, err := pool.Exec(ctx, `delete from tenants_s3_credentials where access_key = 'ak'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted key to be refused", func() bool {
		_, _, err := r.LookupS3Credential(ctx, "t1", "ak")
		return errors.Is(err, db.ErrNotFound)
	})
}
