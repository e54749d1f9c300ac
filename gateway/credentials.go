package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/passphrase"
)

// MaxS3Credentials is how many admin-created S3 credentials one tenant may hold (the
// reference's limit).
const MaxS3Credentials = 50

// S3CredentialCacheTTL bounds how long a gateway keeps using what it looked up about an
// access key: a credential deleted through another gateway (or straight in the database)
// stops working there at most this long after the delete. The gateway that deletes it
// forgets it at once.
const S3CredentialCacheTTL = 10 * time.Second

// maxCachedCredentials bounds the lookup cache (unknown keys included, so random access
// keys cannot grow it without limit).
const maxCachedCredentials = 10000

var (
	// ErrS3CredentialLimit: the tenant already holds MaxS3Credentials credentials.
	ErrS3CredentialLimit = errors.New("You have reached the maximum number of credentials allowed")
	// ErrUnknownAccessKey: no admin-created credential has this access key.
	ErrUnknownAccessKey = errors.New("unknown S3 access key")
	// ErrNoEncryptionKey: ENCRYPTION_KEY is unset, so secrets cannot be stored or read.
	ErrNoEncryptionKey = errors.New("ENCRYPTION_KEY is not set: S3 credentials cannot be stored")
)

// CredentialStore keeps tenants' admin-created S3 credentials and JWKs outside their
// databases: in multi-tenant mode, the control database's tenants_s3_credentials and
// tenants_jwks (gateway/tenants.Registry). Secrets and keys go in and come out of it
// encrypted with ENCRYPTION_KEY, but for LookupS3Credential, which decrypts (and caches).
type CredentialStore interface {
	// CreateS3Credential stores c unless tenant already holds max credentials (db.ErrLimit).
	CreateS3Credential(ctx context.Context, tenant string, c db.S3Credential, max int) (db.S3Credential, error)
	// S3Credentials lists tenant's credentials, oldest first, without secrets or claims.
	S3Credentials(ctx context.Context, tenant string) ([]db.S3Credential, error)
	// DeleteS3Credential deletes credential id and returns its access key (db.ErrNotFound).
	DeleteS3Credential(ctx context.Context, tenant, id string) (string, error)
	// LookupS3Credential returns the secret (decrypted) and claims of tenant's access key;
	// db.ErrNotFound when there is none.
	LookupS3Credential(ctx context.Context, tenant, accessKey string) (secret string, claims json.RawMessage, err error)
	// InsertJWK stores an active key (content encrypted) and returns its id.
	InsertJWK(ctx context.Context, tenant, kind, content string) (string, error)
	// SetJWKActive flips key id and reports whether it changed.
	SetJWKActive(ctx context.Context, tenant, id string, active bool) (bool, error)
	// ActiveJWKs returns tenant's active keys, oldest first, content encrypted.
	ActiveJWKs(ctx context.Context, tenant string) ([]db.JWK, error)
}

// S3Credential is an admin-created S3 access key. Requests signed with it act as Claims
// (role, sub and any other claims), exactly as a JWT with those claims would.
type S3Credential struct {
	ID          string
	Description string
	AccessKey   string
	// Claims is the JSON object stored with the credential; nil in listings.
	Claims    json.RawMessage
	CreatedAt time.Time
}

// NewS3Credential is what CreateS3Credential stores.
type NewS3Credential struct {
	Description string
	// Claims may be nil: the credential then acts as the service role.
	Claims map[string]any
}

// CreateS3Credential stores a new credential and returns it with its secret key, which is
// kept only encrypted (ENCRYPTION_KEY) and never shown again. As the reference: iss,
// issuer, exp and iat claims are dropped, role defaults to the service role, issuer is
// "supabase.storage.<tenant>".
func (e *Engine) CreateS3Credential(ctx context.Context, in NewS3Credential) (S3Credential, string, error) {
	if e.opts.EncryptionKey == "" {
		return S3Credential{}, "", &Error{Code: CodeInvalidArgument, Message: ErrNoEncryptionKey.Error(), Err: ErrNoEncryptionKey}
	}
	claims := map[string]any{}
	for k, v := range in.Claims {
		switch k {
		case "iss", "issuer", "exp", "iat":
		default:
			claims[k] = v
		}
	}
	if r, ok := claims["role"].(string); !ok || r == "" {
		claims["role"] = e.opts.Roles.Service
	}
	claims["issuer"] = "supabase.storage." + e.opts.TenantID
	raw, err := json.Marshal(claims)
	if err != nil {
		return S3Credential{}, "", &Error{Code: CodeInvalidArgument, Message: "claims must be a JSON object", Err: err}
	}
	accessKey, secret := randomHex(16), randomHex(32)
	sealed, err := passphrase.Encrypt(e.opts.EncryptionKey, secret)
	if err != nil {
		return S3Credential{}, "", &Error{Code: CodeInternal, Err: err}
	}
	cred := db.S3Credential{Description: in.Description, AccessKey: accessKey, SecretKey: sealed, Claims: raw}
	if st := e.opts.Credentials; st != nil {
		cred, err = st.CreateS3Credential(ctx, e.opts.TenantID, cred, MaxS3Credentials)
		if errors.Is(err, db.ErrLimit) {
			return S3Credential{}, "", &Error{Code: CodeInvalidArgument, Message: ErrS3CredentialLimit.Error(), Err: ErrS3CredentialLimit}
		}
		if err != nil {
			return S3Credential{}, "", dbErr(err, CodeInternal, "", "")
		}
		return S3Credential{ID: cred.ID, Description: cred.Description, AccessKey: accessKey, Claims: raw, CreatedAt: cred.CreatedAt}, secret, nil
	}
	err = e.db.InTx(ctx, e.service(e.ServiceCaller("storage.admin.s3_credentials.create")), func(tx db.Tx) error {
		n, err := tx.CountS3Credentials(ctx, e.opts.TenantID, true)
		if err != nil {
			return err
		}
		if n >= MaxS3Credentials {
			return &Error{Code: CodeInvalidArgument, Message: ErrS3CredentialLimit.Error(), Err: ErrS3CredentialLimit}
		}
		cred, err = tx.InsertS3Credential(ctx, e.opts.TenantID, cred)
		return err
	})
	if err != nil {
		return S3Credential{}, "", dbErr(err, CodeInternal, "", "")
	}
	e.creds.forget(accessKey) // a lookup that just missed must not hide the new key
	return S3Credential{ID: cred.ID, Description: cred.Description, AccessKey: accessKey, Claims: raw, CreatedAt: cred.CreatedAt}, secret, nil
}

// ListS3Credentials returns the tenant's credentials, oldest first, without secrets.
func (e *Engine) ListS3Credentials(ctx context.Context) ([]S3Credential, error) {
	var rows []db.S3Credential
	var err error
	if st := e.opts.Credentials; st != nil {
		rows, err = st.S3Credentials(ctx, e.opts.TenantID)
	} else {
		err = e.db.InTx(ctx, e.service(e.ServiceCaller("storage.admin.s3_credentials.list")), func(tx db.Tx) (err error) {
			rows, err = tx.ListS3Credentials(ctx, e.opts.TenantID)
			return err
		})
	}
	if err != nil {
		return nil, dbErr(err, CodeInternal, "", "")
	}
	out := make([]S3Credential, 0, len(rows))
	for _, r := range rows {
		out = append(out, S3Credential{ID: r.ID, Description: r.Description, AccessKey: r.AccessKey, CreatedAt: r.CreatedAt})
	}
	return out, nil
}

// DeleteS3Credential deletes credential id and reports whether it existed. This gateway
// stops accepting its key at once; others within S3CredentialCacheTTL.
func (e *Engine) DeleteS3Credential(ctx context.Context, id string) (bool, error) {
	var key string
	var err error
	if st := e.opts.Credentials; st != nil {
		// The store forgets the key on this gateway at once, on others by NOTIFY.
		key, err = st.DeleteS3Credential(ctx, e.opts.TenantID, id)
	} else {
		err = e.db.InTx(ctx, e.service(e.ServiceCaller("storage.admin.s3_credentials.delete")), func(tx db.Tx) (err error) {
			key, err = tx.DeleteS3Credential(ctx, e.opts.TenantID, id)
			return err
		})
	}
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, dbErr(err, CodeInternal, "", "")
	}
	e.creds.forget(key)
	return true, nil
}

// LookupS3Credential returns the secret key and claims of an admin-created access key, from
// a cache of at most S3CredentialCacheTTL. ErrUnknownAccessKey when there is none (or no
// ENCRYPTION_KEY to read secrets with); an engine Error when the database cannot answer.
func (e *Engine) LookupS3Credential(ctx context.Context, accessKey string) (secret string, claims json.RawMessage, err error) {
	if e.opts.EncryptionKey == "" || accessKey == "" || len(accessKey) > 128 {
		return "", nil, ErrUnknownAccessKey
	}
	if st := e.opts.Credentials; st != nil {
		// The store caches (kept current by NOTIFY), not this engine.
		secret, claims, err = st.LookupS3Credential(ctx, e.opts.TenantID, accessKey)
		if errors.Is(err, db.ErrNotFound) {
			return "", nil, ErrUnknownAccessKey
		}
		if err != nil {
			return "", nil, dbErr(err, CodeInternal, "", "")
		}
		return secret, claims, nil
	}
	now := e.now()
	if ent, ok := e.creds.get(accessKey, now); ok {
		if !ent.found {
			return "", nil, ErrUnknownAccessKey
		}
		return ent.secret, ent.claims, nil
	}
	var row db.S3Credential
	err = e.db.InTx(ctx, e.service(e.ServiceCaller("storage.s3.credentials")), func(tx db.Tx) (err error) {
		row, err = tx.S3CredentialByAccessKey(ctx, e.opts.TenantID, accessKey)
		return err
	})
	if errors.Is(err, db.ErrNotFound) {
		e.creds.put(accessKey, credEntry{expires: now.Add(S3CredentialCacheTTL)})
		return "", nil, ErrUnknownAccessKey
	}
	if err != nil {
		return "", nil, dbErr(err, CodeInternal, "", "")
	}
	secret, err = passphrase.Decrypt(e.opts.EncryptionKey, row.SecretKey)
	if err != nil {
		return "", nil, &Error{Code: CodeInternal, Err: fmt.Errorf("S3 credential %s: %w", row.ID, err)}
	}
	e.creds.put(accessKey, credEntry{found: true, secret: secret, claims: row.Claims, expires: now.Add(S3CredentialCacheTTL)})
	return secret, row.Claims, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return hex.EncodeToString(b)
}

// credEntry is what a gateway remembers of one access key; found false caches a miss.
type credEntry struct {
	found   bool
	secret  string
	claims  json.RawMessage
	expires time.Time
}

// credCache is the bounded lookup cache behind LookupS3Credential.
type credCache struct {
	mu sync.Mutex
	m  map[string]credEntry
}

func (c *credCache) get(key string, now time.Time) (credEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ent, ok := c.m[key]
	if ok && !now.Before(ent.expires) {
		delete(c.m, key)
		return credEntry{}, false
	}
	return ent, ok
}

func (c *credCache) put(key string, ent credEntry) {
	// The access key may be a view of a request buffer the server reuses: the map keeps a copy.
	key = strings.Clone(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]credEntry{}
	}
	if len(c.m) >= maxCachedCredentials {
		// Full: start over rather than track recency; a miss costs one short query.
		c.m = map[string]credEntry{}
	}
	c.m[key] = ent
}

func (c *credCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
