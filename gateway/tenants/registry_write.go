package tenants

import (
	"context"
	"errors"
	"fmt"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/passphrase"
)

// ErrInvalidID is returned by Create and Upsert for an id that ValidID refuses.
var ErrInvalidID = errors.New("tenant id must be 1-63 letters, digits, '-' or '_'")

// ValidID reports whether id may name a tenant: 1-63 ASCII letters, digits, '-' and '_'
// (a host label, as the data plane finds ids in X-Forwarded-Host). The id is the first
// segment of every key of the tenant's bytes in the shared store, so a '/', '.' or ".."
// must never reach it.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 63 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Config is a tenant as the admin API writes it. A nil field is left as it is (Patch) or
// takes the column's default (Create, Upsert); secrets are given in plain text and stored
// encrypted.
type Config struct {
	AnonKey, DatabaseURL, JWTSecret, ServiceKey *string
	// DatabasePoolURL: "" stores NULL (no pooler).
	DatabasePoolURL *string
	// MaxConnections: 0 stores NULL (the server's default).
	MaxConnections *int
	FileSizeLimit  *int64
	// JWKS is the legacy JWKS document; "" or "null" stores NULL.
	JWKS                *string
	ImageTransformation *bool
	// ImageTransformationMaxResolution: 0 stores NULL.
	ImageTransformationMaxResolution *int
	S3Protocol                       *bool
	TracingMode                      *string
}

// columns turns c into column values, encrypting secrets.
func (r *Registry) columns(c Config) (db.TenantColumns, error) {
	cols := db.TenantColumns{}
	for _, s := range []struct {
		name string
		v    *string
	}{{"anon_key", c.AnonKey}, {"database_url", c.DatabaseURL}, {"jwt_secret", c.JWTSecret}, {"service_key", c.ServiceKey}} {
		if s.v == nil {
			continue
		}
		sealed, err := passphrase.Encrypt(r.key, *s.v)
		if err != nil {
			return nil, err
		}
		cols[s.name] = sealed
	}
	if c.DatabasePoolURL != nil {
		cols["database_pool_url"] = nil
		if *c.DatabasePoolURL != "" {
			sealed, err := passphrase.Encrypt(r.key, *c.DatabasePoolURL)
			if err != nil {
				return nil, err
			}
			cols["database_pool_url"] = sealed
		}
	}
	if c.MaxConnections != nil {
		cols["max_connections"] = nullZero(*c.MaxConnections)
	}
	if c.FileSizeLimit != nil {
		cols["file_size_limit"] = *c.FileSizeLimit
	}
	if c.JWKS != nil {
		cols["jwks"] = nil
		if *c.JWKS != "" && *c.JWKS != "null" {
			cols["jwks"] = *c.JWKS
		}
	}
	if c.ImageTransformation != nil {
		cols["feature_image_transformation"] = *c.ImageTransformation
	}
	if c.ImageTransformationMaxResolution != nil {
		cols["image_transformation_max_resolution"] = nullZero(*c.ImageTransformationMaxResolution)
	}
	if c.S3Protocol != nil {
		cols["feature_s3_protocol"] = *c.S3Protocol
	}
	if c.TracingMode != nil {
		cols["tracing_mode"] = *c.TracingMode
	}
	return cols, nil
}

func nullZero(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

// Create adds tenant id (ErrExists when it exists).
func (r *Registry) Create(ctx context.Context, id string, c Config) error {
	if !ValidID(id) {
		return ErrInvalidID
	}
	cols, err := r.columns(c)
	if err != nil {
		return err
	}
	err = db.InsertTenant(ctx, r.pool, id, cols)
	if errors.Is(err, db.ErrUniqueViolated) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("tenants: create %q: %w", id, err)
	}
	r.forget(id)
	return nil
}

// Upsert adds tenant id or overwrites the columns c sets.
func (r *Registry) Upsert(ctx context.Context, id string, c Config) error {
	if !ValidID(id) {
		return ErrInvalidID
	}
	cols, err := r.columns(c)
	if err != nil {
		return err
	}
	if err := db.UpsertTenant(ctx, r.pool, id, cols); err != nil {
		return fmt.Errorf("tenants: upsert %q: %w", id, err)
	}
	r.forget(id)
	return nil
}

// Patch changes the columns c sets; ErrNotFound when tenant id does not exist.
func (r *Registry) Patch(ctx context.Context, id string, c Config) error {
	cols, err := r.columns(c)
	if err != nil {
		return err
	}
	found, err := db.UpdateTenant(ctx, r.pool, id, cols)
	if err != nil {
		return fmt.Errorf("tenants: patch %q: %w", id, err)
	}
	r.forget(id)
	if !found {
		return ErrNotFound
	}
	return nil
}

// Delete removes tenant id and reports whether it existed. The tenant's database is left
// as it is.
func (r *Registry) Delete(ctx context.Context, id string) (bool, error) {
	found, err := db.DeleteTenant(ctx, r.pool, id)
	if err != nil {
		return false, fmt.Errorf("tenants: delete %q: %w", id, err)
	}
	r.forget(id)
	return found, nil
}

// List returns every tenant, secrets decrypted, in creation order (read from the
// database, not the cache).
func (r *Registry) List(ctx context.Context) ([]*Tenant, error) {
	rows, err := db.ControlTenants(ctx, r.pool)
	if err != nil {
		return nil, fmt.Errorf("tenants: list: %w", err)
	}
	out := make([]*Tenant, 0, len(rows))
	for _, row := range rows {
		t, err := r.decrypt(row)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Migration statuses of the reference's tenants.migrations_status.
const (
	MigrationsCompleted   = "COMPLETED"
	MigrationsFailed      = "FAILED"
	MigrationsFailedStale = "FAILED_STALE"
)

// SetMigrations records tenant id's migration version and status.
func (r *Registry) SetMigrations(ctx context.Context, id, version, status string) error {
	cols := db.TenantColumns{"migrations_version": nullEmpty(version), "migrations_status": nullEmpty(status)}
	if version == "" {
		delete(cols, "migrations_version") // a failure keeps the version reached before
	}
	found, err := db.UpdateTenant(ctx, r.pool, id, cols)
	if err != nil {
		return fmt.Errorf("tenants: record migrations of %q: %w", id, err)
	}
	r.forget(id)
	if !found {
		return ErrNotFound
	}
	return nil
}

func nullEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
