package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/passphrase"
)

// TenantID is the tenant this engine serves (TENANT_ID): the first segment of every
// backend key and the id the admin API answers for.
func (e *Engine) TenantID() string { return e.opts.TenantID }

// MigrationStatus is the admin API's view of the tenant database's migrations.
type MigrationStatus struct {
	// Version is the newest reference migration the database records.
	Version string
	// Latest: the database has every reference and Stowage migration this build knows.
	Latest bool
}

// Migrations reports the tenant database's migration state.
func (e *Engine) Migrations(ctx context.Context) (MigrationStatus, error) {
	got, err := e.db.Migrations(ctx)
	if err != nil {
		return MigrationStatus{}, dbErr(err, CodeInternal, "", "")
	}
	want := db.LatestMigrations()
	return MigrationStatus{Version: got.Storage, Latest: got.Storage == want.Storage && got.Stowage >= want.Stowage}, nil
}

// JWKKindURLSigning is the kind of the tenant's URL-signing key (one active at most).
const JWKKindURLSigning = "storage-url-signing-key"

// jwkKIDSeparator joins a key's kind and id into its kid, as the reference does.
const jwkKIDSeparator = "_"

// AddJWK stores jwk (a JSON object, encrypted with ENCRYPTION_KEY) as an active key of
// kind and returns its kid "<kind>_<id>".
func (e *Engine) AddJWK(ctx context.Context, jwk json.RawMessage, kind string) (string, error) {
	if e.opts.EncryptionKey == "" {
		return "", &Error{Code: CodeInvalidArgument, Message: "ENCRYPTION_KEY is not set: keys cannot be stored", Err: ErrNoEncryptionKey}
	}
	sealed, err := passphrase.Encrypt(e.opts.EncryptionKey, string(jwk))
	if err != nil {
		return "", &Error{Code: CodeInternal, Err: err}
	}
	var id string
	if st := e.opts.Credentials; st != nil {
		id, err = st.InsertJWK(ctx, e.opts.TenantID, kind, sealed)
	} else {
		err = e.db.InTx(ctx, e.service(e.ServiceCaller("storage.admin.jwks.add")), func(tx db.Tx) (err error) {
			id, err = tx.InsertJWK(ctx, e.opts.TenantID, kind, sealed)
			return err
		})
	}
	if errors.Is(err, db.ErrUniqueViolated) {
		return "", &Error{Code: CodeConflict, Message: "an active " + kind + " already exists", Err: err}
	}
	if err != nil {
		return "", dbErr(err, CodeInternal, "", "")
	}
	return kind + jwkKIDSeparator + id, nil
}

// SetJWKActive turns the key kid on or off and reports whether its state changed.
func (e *Engine) SetJWKActive(ctx context.Context, kid string, active bool) (bool, error) {
	id := kid[strings.LastIndex(kid, jwkKIDSeparator)+1:]
	var changed bool
	var err error
	if st := e.opts.Credentials; st != nil {
		changed, err = st.SetJWKActive(ctx, e.opts.TenantID, id, active)
	} else {
		err = e.db.InTx(ctx, e.service(e.ServiceCaller("storage.admin.jwks.toggle")), func(tx db.Tx) (err error) {
			changed, err = tx.SetJWKActive(ctx, e.opts.TenantID, id, active)
			return err
		})
	}
	if errors.Is(err, db.ErrUniqueViolated) {
		return false, &Error{Code: CodeConflict, Message: "another " + JWKKindURLSigning + " is active", Err: err}
	}
	if err != nil {
		return false, dbErr(err, CodeInternal, "", "")
	}
	return changed, nil
}

// TenantJWKS returns the tenant's active keys as a JWKS document {"keys":[...],
// "urlSigningKey":{...}}: each key decrypted with its kid set, the first active oct
// URL-signing key also as urlSigningKey (the shape JWT_JWKS takes). A key that does not
// decrypt is skipped and reported in skipped.
func (e *Engine) TenantJWKS(ctx context.Context) (doc json.RawMessage, skipped int, err error) {
	rows, err := e.activeJWKs(ctx)
	if err != nil {
		return nil, 0, dbErr(err, CodeInternal, "", "")
	}
	out := struct {
		Keys          []map[string]any `json:"keys"`
		URLSigningKey map[string]any   `json:"urlSigningKey,omitempty"`
	}{Keys: []map[string]any{}}
	for _, r := range rows {
		plain, err := passphrase.Decrypt(e.opts.EncryptionKey, r.Content)
		var key map[string]any
		if err != nil || json.Unmarshal([]byte(plain), &key) != nil || key == nil {
			skipped++
			continue
		}
		key["kid"] = r.Kind + jwkKIDSeparator + r.ID
		if r.Kind == JWKKindURLSigning && key["kty"] == "oct" && key["k"] != nil && out.URLSigningKey == nil {
			out.URLSigningKey = key
		}
		out.Keys = append(out.Keys, key)
	}
	doc, err = json.Marshal(out)
	if err != nil {
		return nil, skipped, &Error{Code: CodeInternal, Err: err}
	}
	return doc, skipped, nil
}

// GenerateURLSigningJWK gives the tenant an HS512 URL-signing key when it has no active
// one, and reports whether it created one.
func (e *Engine) GenerateURLSigningJWK(ctx context.Context) (bool, error) {
	rows, err := e.activeJWKs(ctx)
	if err != nil {
		return false, dbErr(err, CodeInternal, "", "")
	}
	for _, r := range rows {
		if r.Kind == JWKKindURLSigning {
			return false, nil
		}
	}
	key := make([]byte, 64)
	_, _ = rand.Read(key)
	jwk, _ := json.Marshal(map[string]string{"kty": "oct", "alg": "HS512", "k": base64.RawURLEncoding.EncodeToString(key)})
	if _, err := e.AddJWK(ctx, jwk, JWKKindURLSigning); err != nil {
		var ge *Error
		if errors.As(err, &ge) && ge.Code == CodeConflict {
			return false, nil // another gateway created it meanwhile
		}
		return false, err
	}
	return true, nil
}

// activeJWKs reads the tenant's active keys, from the credential store when there is one.
func (e *Engine) activeJWKs(ctx context.Context) ([]db.JWK, error) {
	if st := e.opts.Credentials; st != nil {
		return st.ActiveJWKs(ctx, e.opts.TenantID)
	}
	var rows []db.JWK
	err := e.db.InTx(ctx, e.service(e.ServiceCaller("storage.admin.jwks.list")), func(tx db.Tx) (err error) {
		rows, err = tx.ActiveJWKs(ctx, e.opts.TenantID)
		return err
	})
	return rows, err
}
