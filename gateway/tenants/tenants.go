// Package tenants is the multi-tenant control plane's view of one tenant: its database,
// secrets, limits and features, read from the control database (DATABASE_MULTITENANT_URL,
// the reference's `tenants` table) with secrets decrypted with ENCRYPTION_KEY.
//
// The data plane (cmd/stowage's multi-tenant server) asks a Source for a tenant on first use
// and again after Changed reports it; the admin API writes tenants through the Registry.
package tenants

import (
	"context"
	"errors"
)

// Tenant is one tenant's configuration, secrets decrypted.
type Tenant struct {
	ID string
	// DatabaseURL is the tenant's database; DatabasePoolURL, when set, is used for queries
	// instead (an external pooler), DatabaseURL still for migrations.
	DatabaseURL     string
	DatabasePoolURL string
	// MaxConnections bounds the tenant's pool (0: the server's default).
	MaxConnections int
	JWTSecret      string
	// JWKS is the tenant's legacy JWKS document ({"keys":[...]}), "" when none.
	JWKS       string
	AnonKey    string
	ServiceKey string
	// FileSizeLimit is the tenant's object size limit in bytes (0: the server's).
	FileSizeLimit       int64
	ImageTransformation bool
	S3Protocol          bool
	// MigrationsVersion and MigrationsStatus are the reference's columns of the same names.
	MigrationsVersion string
	MigrationsStatus  string
	// TracingMode is the reference's tracing_mode ("" when unset); Stowage only stores it.
	TracingMode string
	// ImageTransformationMaxResolution is the reference's image_transformation_max_resolution
	// (0: none set).
	ImageTransformationMaxResolution int
}

// ErrNotFound is returned by Source.Get for an id the control database does not hold.
var ErrNotFound = errors.New("tenant not found")

// Source gives tenants to the data plane.
type Source interface {
	// Get returns the tenant, from a cache kept current by Changed's notifications.
	Get(ctx context.Context, id string) (*Tenant, error)
	// Changed registers fn, called with a tenant id after that tenant was created, updated
	// or deleted through any gateway (Postgres LISTEN/NOTIFY on the control database) or
	// its JWKs in the control database changed (the Registry), and with "" when
	// notifications may have been missed (all cached tenants are suspect).
	Changed(fn func(id string))
}
