package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors, classified by SQLSTATE (never by message text).
var (
	ErrNotFound       = errors.New("db: not found")
	ErrUniqueViolated = errors.New("db: unique violation")              // 23505
	ErrForbidden      = errors.New("db: insufficient privilege or RLS") // 42501
	ErrForeignKey     = errors.New("db: foreign key violation")         // 23503
	ErrLocked         = errors.New("db: lock not available")            // 55P03
	ErrTimeout        = errors.New("db: statement timeout")             // 57014
	// ErrUnavailable: the database cannot serve right now (unreachable, shutting down or
	// starting up, out of connections, hung past the query deadline). Retrying later may
	// succeed; the request itself was not at fault.
	ErrUnavailable = errors.New("db: database unavailable")
	// ErrRetry: the transaction lost a serialization conflict or a deadlock (40001, 40P01)
	// and was rolled back; running it again may succeed.
	ErrRetry = errors.New("db: serialization failure or deadlock")
	// ErrInvalidText: a value Postgres cannot store as text or jsonb (a NUL, invalid UTF-8).
	ErrInvalidText = errors.New("db: text the database cannot store") // 22P05, 22021
)

var sentinels = []error{ErrNotFound, ErrUniqueViolated, ErrForbidden, ErrForeignKey, ErrLocked,
	ErrTimeout, ErrUnavailable, ErrRetry, ErrInvalidText}

// Classify maps a pgx error onto the sentinels above, keeping the original wrapped.
//
// The connection is judged before the server's error: a failed connect wraps the server's
// refusal (57P03 "the database system is starting up", 53300 too many connections, …) in a
// pgconn.ConnectError, and whatever the refusal's SQLSTATE, no statement ran and none can
// until the database comes back.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return err // already classified (Classify runs at several layers)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if connectionLost(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		if s := sqlstateSentinel(pg.Code); s != nil {
			return fmt.Errorf("%w: %w", s, err)
		}
	}
	return err
}

// sqlstateSentinel is the sentinel of a server error code, nil for codes the caller reports
// as a plain database error.
func sqlstateSentinel(code string) error {
	switch code {
	case "23505":
		return ErrUniqueViolated
	case "42501":
		return ErrForbidden
	case "23503":
		return ErrForeignKey
	case "55P03":
		return ErrLocked
	case "57014": // query_canceled: statement_timeout (or an operator's pg_cancel_backend)
		return ErrTimeout
	case "22P05", "22021": // untranslatable_character, character_not_in_repertoire / invalid byte sequence
		return ErrInvalidText
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return ErrRetry
	case "57P01", "57P02", "57P03", "57P05":
		// admin_shutdown (fast shutdown, pg_terminate_backend), crash_shutdown (another
		// backend crashed: every session is reset), cannot_connect_now (starting up or
		// shutting down), idle_session_timeout: the session is gone, the server may be too.
		return ErrUnavailable
	}
	switch {
	case strings.HasPrefix(code, "08"): // connection_exception
		return ErrUnavailable
	case strings.HasPrefix(code, "53"): // insufficient_resources: too_many_connections, out_of_memory, disk_full
		return ErrUnavailable
	}
	return nil
}

// connectionLost reports whether err says the connection (not the statement) failed:
// connecting failed, the request never reached the server (pgconn.SafeToRetry), or the
// socket broke or timed out mid-statement. A statement whose fate is unknown is still
// unavailable to the caller: the transaction around it did not commit.
func connectionLost(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), pgconn.SafeToRetry(err), pgconn.Timeout(err),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}

// SQLState is the SQLSTATE of the server error inside err ("" when there is none), for
// answers that name it as the reference does ("database error, code: 22023").
func SQLState(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code
	}
	return ""
}
