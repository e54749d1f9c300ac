package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// TestS3CredentialLookupCache pins the documented bound: a credential deleted behind this
// engine's back (another gateway) keeps working until S3CredentialCacheTTL has passed; one
// deleted through this engine stops at once.
func TestS3CredentialLookupCache(t *testing.T) {
	f := newFixture(t)
	f.e.opts.EncryptionKey = "test-encryption-key"
	ctx := context.Background()

	cred, secret, err := f.e.CreateS3Credential(ctx, NewS3Credential{Description: "cached",
		Claims: map[string]any{"role": "authenticated", "sub": "u1", "iss": "x", "exp": 1, "email": "u1@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	got, claims, err := f.e.LookupS3Credential(ctx, cred.AccessKey)
	if err != nil || got != secret {
		t.Fatalf("lookup: %q, %v; want the created secret", got, err)
	}
	var c map[string]any
	if err := json.Unmarshal(claims, &c); err != nil {
		t.Fatal(err)
	}
	if c["role"] != "authenticated" || c["sub"] != "u1" || c["email"] != "u1@example.com" ||
		c["issuer"] != "supabase.storage.storage-single-tenant" || c["iss"] != nil || c["exp"] != nil {
		t.Fatalf("stored claims %v: want role, sub, email, issuer and no iss/exp", c)
	}

	// Deleted by "another gateway": still served from the cache until the TTL passes.
	if _, err := f.db.Pool().Exec(ctx, `delete from stowage.tenants_s3_credentials where id = $1`, cred.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.e.LookupS3Credential(ctx, cred.AccessKey); err != nil {
		t.Fatalf("within the TTL: %v, want the cached credential", err)
	}
	f.advance(S3CredentialCacheTTL)
	if _, _, err := f.e.LookupS3Credential(ctx, cred.AccessKey); !errors.Is(err, ErrUnknownAccessKey) {
		t.Fatalf("after the TTL: %v, want ErrUnknownAccessKey", err)
	}

	// Deleted through this engine: refused at once.
	cred2, _, err := f.e.CreateS3Credential(ctx, NewS3Credential{Description: "deleted here"})
	if err != nil {
		t.Fatal(err)
	}
	if _, c2, err := f.e.LookupS3Credential(ctx, cred2.AccessKey); err != nil || !json.Valid(c2) {
		t.Fatalf("lookup: %v", err)
	}
	if ok, err := f.e.DeleteS3Credential(ctx, cred2.ID); !ok || err != nil {
		t.Fatalf("delete: %v, %v", ok, err)
	}
	if _, _, err := f.e.LookupS3Credential(ctx, cred2.AccessKey); !errors.Is(err, ErrUnknownAccessKey) {
		t.Fatalf("after delete: %v, want ErrUnknownAccessKey", err)
	}
	if ok, err := f.e.DeleteS3Credential(ctx, cred2.ID); ok || err != nil {
		t.Fatalf("second delete: %v, %v; want false, nil", ok, err)
	}

	// Without ENCRYPTION_KEY nothing is stored and nothing is looked up.
	f.e.opts.EncryptionKey = ""
	var ge *Error
	if _, _, err := f.e.CreateS3Credential(ctx, NewS3Credential{Description: "no key"}); !errors.As(err, &ge) || ge.Code != CodeInvalidArgument {
		t.Fatalf("create without ENCRYPTION_KEY: %v", err)
	}
}
