package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/passphrase"
)

// The Registry keeps the tenants' admin-created S3 credentials and JWKs where the
// reference keeps them in multi-tenant mode: the control database's tenants_s3_credentials
// and tenants_jwks (secrets encrypted with ENCRYPTION_KEY in the reference's format). It is
// the gateway.CredentialStore of every tenant's engine.
//
// Caching, as the reference: a looked-up credential (secret decrypted) is kept per
// gateway, keyed by tenant and access key, until NOTIFY tenants_s3_credentials_update
// names its access key (any insert, update or delete of the row, on any gateway or by
// hand) or CredentialCacheTTL passes. Misses are cached too (the insert trigger notifies).
// As the tenants' cache, it is used only while the LISTEN connection is up and dropped
// when it comes back, so a deleted credential stops working on every gateway one
// notification trip after the delete. JWKs are not cached here: a tenant's stack loads
// them when it is built, and NOTIFY tenants_jwks_update retires the tenant's stacks
// (Changed(id)) so that the next request loads the keys anew.

// CredentialCacheTTL bounds how long a looked-up credential is kept without a
// notification (the reference's one hour); notifications end it sooner.
const CredentialCacheTTL = time.Hour

// maxCachedCredentials bounds the lookup cache; unknown keys included, so random access
// keys cannot grow it without limit.
const maxCachedCredentials = 10000

type credKey struct{ tenant, accessKey string }

type credEntry struct {
	found   bool
	secret  string
	claims  json.RawMessage
	expires time.Time
}

// credCache is guarded by Registry.mu.
type credCache struct {
	m   map[credKey]credEntry
	gen uint64 // bumped by every invalidation; a lookup stores only if unchanged
}

func (c *credCache) clear() {
	c.gen++
	clear(c.m)
}

// CreateS3Credential stores c (SecretKey encrypted) for tenant unless it holds max
// credentials already (db.ErrLimit).
func (r *Registry) CreateS3Credential(ctx context.Context, tenant string, c db.S3Credential, max int) (db.S3Credential, error) {
	c, err := db.ControlInsertS3Credential(ctx, r.pool, tenant, c, max)
	if err != nil {
		return c, fmt.Errorf("tenants: %q: create S3 credential: %w", tenant, err)
	}
	r.forgetCredential(tenant + ":" + c.AccessKey) // a cached miss must not hide it here
	return c, nil
}

// S3Credentials lists tenant's credentials, oldest first, without secrets.
func (r *Registry) S3Credentials(ctx context.Context, tenant string) ([]db.S3Credential, error) {
	out, err := db.ControlS3Credentials(ctx, r.pool, tenant)
	if err != nil {
		return nil, fmt.Errorf("tenants: %q: list S3 credentials: %w", tenant, err)
	}
	return out, nil
}

// DeleteS3Credential deletes tenant's credential id (db.ErrNotFound when none) and
// forgets its access key on this gateway at once; others hear it by NOTIFY.
func (r *Registry) DeleteS3Credential(ctx context.Context, tenant, id string) (string, error) {
	key, err := db.ControlDeleteS3Credential(ctx, r.pool, tenant, id)
	if err != nil {
		return "", fmt.Errorf("tenants: %q: delete S3 credential: %w", tenant, err)
	}
	r.forgetCredential(tenant + ":" + key)
	return key, nil
}

// LookupS3Credential returns the decrypted secret and the claims of tenant's access key;
// db.ErrNotFound when there is none.
func (r *Registry) LookupS3Credential(ctx context.Context, tenant, accessKey string) (string, json.RawMessage, error) {
	k := credKey{tenant, accessKey}
	r.mu.Lock()
	listening, gen := r.listening, r.creds.gen
	if listening {
		if ent, ok := r.creds.m[k]; ok && time.Now().Before(ent.expires) {
			r.mu.Unlock()
			if !ent.found {
				return "", nil, db.ErrNotFound
			}
			return ent.secret, ent.claims, nil
		}
	}
	r.mu.Unlock()

	row, err := db.ControlS3CredentialByAccessKey(ctx, r.pool, tenant, accessKey)
	ent := credEntry{expires: time.Now().Add(CredentialCacheTTL)}
	switch {
	case err == nil:
		secret, derr := passphrase.Decrypt(r.key, row.SecretKey)
		if derr != nil {
			return "", nil, fmt.Errorf("tenants: %q: S3 credential %s: secret_key: %w", tenant, row.ID, derr)
		}
		ent.found, ent.secret, ent.claims = true, secret, row.Claims
	case errors.Is(err, db.ErrNotFound):
	default:
		return "", nil, fmt.Errorf("tenants: %q: S3 credential: %w", tenant, err)
	}
	r.mu.Lock()
	if r.listening && r.creds.gen == gen {
		if r.creds.m == nil || len(r.creds.m) >= maxCachedCredentials {
			// Full: start over rather than track recency; a miss costs one short query.
			r.creds.m = map[credKey]credEntry{}
		}
		// The key may be a view of a request buffer the server reuses: keep copies.
		r.creds.m[credKey{strings.Clone(tenant), strings.Clone(accessKey)}] = ent
	}
	r.mu.Unlock()
	if !ent.found {
		return "", nil, db.ErrNotFound
	}
	return ent.secret, ent.claims, nil
}

// forgetCredential handles a tenants_s3_credentials_update payload, "<tenant>:<access
// key>": the access key is dropped under every tenant (the reference's first triggers sent
// the credential id in place of the tenant).
func (r *Registry) forgetCredential(payload string) {
	key := payload[strings.LastIndexByte(payload, ':')+1:]
	r.mu.Lock()
	defer r.mu.Unlock()
	r.creds.gen++
	for k := range r.creds.m {
		if k.accessKey == key {
			delete(r.creds.m, k)
		}
	}
}

// InsertJWK stores an active key of kind (content encrypted) and returns its id.
func (r *Registry) InsertJWK(ctx context.Context, tenant, kind, content string) (string, error) {
	id, err := db.ControlInsertJWK(ctx, r.pool, tenant, kind, content)
	if err != nil {
		return "", fmt.Errorf("tenants: %q: add JWK: %w", tenant, err)
	}
	return id, nil
}

// SetJWKActive flips tenant's key id and reports whether it changed.
func (r *Registry) SetJWKActive(ctx context.Context, tenant, id string, active bool) (bool, error) {
	changed, err := db.ControlSetJWKActive(ctx, r.pool, tenant, id, active)
	if err != nil {
		return false, fmt.Errorf("tenants: %q: toggle JWK: %w", tenant, err)
	}
	return changed, nil
}

// ActiveJWKs returns tenant's active keys, oldest first, content encrypted.
func (r *Registry) ActiveJWKs(ctx context.Context, tenant string) ([]db.JWK, error) {
	out, err := db.ControlActiveJWKs(ctx, r.pool, tenant)
	if err != nil {
		return nil, fmt.Errorf("tenants: %q: read JWKs: %w", tenant, err)
	}
	return out, nil
}
