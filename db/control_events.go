package db

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// tenantEventsLockKey is the advisory lock (on the control database) of the gateway
// sweeping tenants' outboxes ("stowtev").
const tenantEventsLockKey int64 = 0x73746f77746576

// TryTenantEventsLock takes the tenant event sweep's advisory lock on conn's session,
// reporting whether it got it; closing the connection releases it. One gateway at a time
// sweeps the tenants' outboxes (docs/multitenant.md, "Events").
func TryTenantEventsLock(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `select pg_try_advisory_lock($1)`, tenantEventsLockKey).Scan(&ok)
	return ok, Classify(err)
}
