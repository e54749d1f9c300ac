package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Without a client-side deadline a hung database (frozen processes, a network partition
// that drops packets instead of refusing them) holds every request that waits on it until
// the request's own timeout, an hour: the kernel keeps the socket open and nothing answers.
// So every statement, batch and pool acquire gets a deadline of its own. When it passes,
// pgx abandons the connection (it sets an immediate deadline on the socket, the read fails
// and the connection is closed, so the pool drops it) and the statement fails with a
// timeout that Classify calls ErrUnavailable.

// unboundedStatementDeadline is the client-side deadline of a statement when the server's
// statement_timeout is off (DATABASE_STATEMENT_TIMEOUT=0): no storage statement should take
// minutes, but with the server's bound turned off the client's must not be a tight one.
const unboundedStatementDeadline = 5 * time.Minute

// statementDeadline is how long the client waits for one statement: the server's
// statement_timeout plus a margin, so that a live server's own timeout (57014, connection
// kept) comes first and only a server that does not answer at all loses the
// connection.
func statementDeadline(statementTimeout time.Duration) time.Duration {
	if statementTimeout <= 0 {
		return unboundedStatementDeadline
	}
	return statementTimeout + max(statementTimeout/10, time.Second)
}

// deadlineTracer gives each statement, batch and acquire a deadline through pgx's tracer
// hooks, whose returned context is the one the operation runs with: every query of the
// package is covered without each call site deriving its own context.
type deadlineTracer struct {
	statement time.Duration // per statement or batch
	acquire   time.Duration // waiting for a pooled connection, including connecting one
}

type (
	cancelKey    struct{}
	unboundedKey struct{}
)

// withoutStatementDeadline marks ctx's statements as exempt from the client-side deadline:
// for migrations, whose statements may legitimately run long (an index build) and run
// without statement_timeout.
func withoutStatementDeadline(ctx context.Context) context.Context {
	return context.WithValue(ctx, unboundedKey{}, true)
}

// begin derives ctx with deadline d; a statement (not an acquire) of a context marked by
// withoutStatementDeadline keeps ctx's own.
func (deadlineTracer) begin(ctx context.Context, d time.Duration, statement bool) context.Context {
	if d <= 0 || (statement && ctx.Value(unboundedKey{}) != nil) {
		// Shadows any deadline of an enclosing operation, which end must not cancel.
		return context.WithValue(ctx, cancelKey{}, context.CancelFunc(func() {}))
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return context.WithValue(ctx, cancelKey{}, cancel)
}

// end releases the deadline's timer. pgx calls it after the operation stopped watching its
// context (rows closed, batch closed), so cancelling cannot disturb the connection.
func (deadlineTracer) end(ctx context.Context) {
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

func (t deadlineTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return t.begin(ctx, t.statement, true)
}

func (t deadlineTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	t.end(ctx)
}

func (t deadlineTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return t.begin(ctx, t.statement, true)
}

func (deadlineTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t deadlineTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	t.end(ctx)
}

func (t deadlineTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return t.begin(ctx, t.acquire, false) // migrations wait on the pool no longer than others

}

func (t deadlineTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	t.end(ctx)
}
