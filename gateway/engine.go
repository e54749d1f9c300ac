package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/inline"
)

// NoLimit marks an absent bucket size limit (a limit of 0 means 0 bytes).
const NoLimit int64 = -1

// Options configure an Engine.
type Options struct {
	// CacheTTL bounds how stale the per-gateway caches of bucket settings (cache.go) may be;
	// 0 is the default, one second. Tests that count round trips set it long.
	CacheTTL time.Duration
	TenantID string
	Roles    auth.Roles
	// ServiceKey is the JWT used as request.jwt for the engine's service-role statements.
	ServiceKey string
	// MaxObjectSize caps every object (UPLOAD_FILE_SIZE_LIMIT) and bucket limits.
	MaxObjectSize int64
	// WriteTimeout bounds one upload; a write intent older than this is abandoned.
	WriteTimeout time.Duration
	// EmptyBucketMax refuses to empty buckets holding more objects (STORAGE_EMPTY_BUCKET_MAX);
	// 0 means 200000, the reference's default.
	EmptyBucketMax int
	// MaxTusChunks caps the parts one resumable upload is assembled from (on the file
	// store every PATCH is one, kept as a blob and a row until completion; on upstream S3
	// S3's own 10000 caps it too); 0 means DefaultMaxTusChunks.
	MaxTusChunks int
	// UploadExpiry is how long an S3 multipart upload may stay incomplete before
	// SweepUploads aborts it; 0 means DefaultUploadExpiry. Resumable uploads follow their
	// own expiry (TusCreate.Expiry) instead.
	UploadExpiry time.Duration
	// LifecycleDay is how long "a day" of a lifecycle rule lasts; 0 means 24 hours. Tests
	// shrink it (STOWAGE_LIFECYCLE_DAY_SECONDS) so that expiry runs in seconds.
	LifecycleDay time.Duration
	Logger       *slog.Logger
	Now          func() time.Time

	// EncryptionKey is ENCRYPTION_KEY: the passphrase admin-created S3 credential secrets
	// are stored under (the reference's format); empty disables those credentials.
	EncryptionKey string
	// Events records an event in the outbox (stowage.events) in the transaction of every
	// change; off when no event target is configured.
	Events bool
	// Region is the events' region (SERVER_REGION).
	Region string
	// NotificationARNs are the targets S3 bucket notification configurations may name.
	NotificationARNs []string
	// InlineMax is the largest object (bytes) whose bytes are kept in Postgres instead of
	// the store (STOWAGE_INLINE_MAX_BYTES; gateway/inline), for stores that keep
	// files (not an upstream S3); 0 keeps new objects in the store. Whatever it is, reads
	// find bytes kept in Postgres before.
	InlineMax int64
	// Credentials, when set, keeps the tenant's admin-created S3 credentials and JWKs
	// instead of its database (multi-tenant mode: the control database; credentials.go).
	Credentials CredentialStore
}

// Engine is the object engine.
type Engine struct {
	db    *db.DB
	store backend.Store
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	cache caches
	// hooks let tests stop an operation between two steps, as a crash would.
	hooks hooks

	// creds caches admin-created S3 credential lookups (credentials.go).
	creds credCache
	// lifecycleAt is when this node last ran the lifecycle sweep (unix nanoseconds).
	lifecycleAt atomic.Int64
}

type hooks struct {
	afterBlobWrite func() error
	beforeCleanup  func() error
	// beforeDelete runs in a reported delete's transaction, after its snapshot was taken
	// and before the DELETE; afterDelete between the DELETE and the check for refused names.
	beforeDelete func() error
	afterDelete  func() error
	// beforeExpire runs in the lifecycle sweep between reading an expired row and expiring it.
	beforeExpire func(key string)
	beforeCommit func() // racing writers meet here in tests
	// beforePartCommit runs between an UploadPart's bytes and its row.
	beforePartCommit func()
}

// New returns an Engine over d and store.
func New(d *db.DB, store backend.Store, opts Options) *Engine {
	if opts.TenantID == "" {
		opts.TenantID = "storage-single-tenant"
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = time.Hour
	}
	if opts.MaxTusChunks <= 0 {
		opts.MaxTusChunks = DefaultMaxTusChunks
	}
	if opts.UploadExpiry <= 0 {
		opts.UploadExpiry = DefaultUploadExpiry
	}
	if opts.MaxObjectSize <= 0 {
		opts.MaxObjectSize = 50 << 30
	}
	if opts.EmptyBucketMax <= 0 {
		opts.EmptyBucketMax = 200000
	}
	if files, ok := store.(inline.Files); ok {
		_, upstream := store.(backend.Multipart)
		if _, wrapped := store.(*inline.Store); !upstream && !wrapped {
			store = inline.New(files, d, opts.InlineMax)
		}
	}
	e := &Engine{db: d, store: store, opts: opts, log: opts.Logger, now: opts.Now}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// SpillSmallBlobs moves the bytes of small objects kept in Postgres into the store's files
// (inline.Store.Spill; `stowage spill`), each with its object's content type and cache
// control (the reference server serves a file with what the file store keeps beside it),
// telling fn of each; left counts those not moved because a write or delete of them was
// under way. 0, 0 when the store keeps none there.
func (e *Engine) SpillSmallBlobs(ctx context.Context, fn func(key string, size int64) error) (moved, left int, err error) {
	s, ok := e.store.(*inline.Store)
	if !ok {
		return 0, 0, nil
	}
	return s.Spill(ctx, func(ctx context.Context, key string) (backend.PutOptions, error) {
		bucket, name, version, ok := e.blobObject(key)
		if !ok {
			return backend.PutOptions{}, nil // a part's bytes: no object's headers
		}
		ct, cc, err := e.db.BlobHeaders(ctx, bucket, name, version)
		return backend.PutOptions{ContentType: ct, CacheControl: cc}, err
	}, fn)
}

// Caller is who asks for an operation and the request it came in, for RLS policies that
// read request.headers, request.method, request.path and storage.operation().
type Caller struct {
	auth.Principal
	Operation string
	Method    string
	Path      string
	// Headers returns the JSON object of lower-case request header names to values
	// (RequestHeaders builds it when first asked); nil: no headers.
	Headers func() string
}

func (c Caller) scope() db.Scope {
	return db.Scope{Role: c.Role, Claims: c.Claims, Token: c.Token, Sub: c.Sub,
		Operation: c.Operation, Method: c.Method, Path: c.Path, Headers: c.Headers}
}

// service is the same request acting as the service role (BYPASSRLS).
func (e *Engine) service(c Caller) db.Scope {
	s := c.scope()
	p := e.opts.Roles.ServicePrincipal(e.opts.ServiceKey)
	s.Role, s.Claims, s.Token, s.Sub = p.Role, p.Claims, p.Token, ""
	return s
}

// ServiceCaller is a caller for the engine's own background work.
func (e *Engine) ServiceCaller(op string) Caller {
	return Caller{Principal: e.opts.Roles.ServicePrincipal(e.opts.ServiceKey), Operation: op}
}

// Ping reports whether the database answers.
func (e *Engine) Ping(ctx context.Context) error { return e.db.Ping(ctx) }

// blobKey is where a version's bytes live: <tenant>/<bucket>/<name>/<version>, the
// reference's layout, so either server can serve the other's bytes.
func (e *Engine) blobKey(bucket, name, version string) string {
	return e.opts.TenantID + "/" + bucket + "/" + name + "/" + version
}

// dbErr translates db sentinels into engine errors for bucket/key.
func dbErr(err error, notFound Code, bucket, key string) error {
	if err == nil {
		return nil
	}
	var ge *Error
	if errors.As(err, &ge) {
		return err
	}
	switch {
	case errors.Is(err, db.ErrNotFound):
		return newErr(notFound, bucket, key, err)
	case errors.Is(err, db.ErrForbidden):
		return &Error{Code: CodeForbidden, Bucket: bucket, Key: key, Message: "new row violates row-level security policy", Err: err}
	case errors.Is(err, db.ErrUniqueViolated):
		if key != "" {
			return newErr(CodeKeyAlreadyExists, bucket, key, err)
		}
		return newErr(CodeBucketAlreadyExists, bucket, key, err)
	case errors.Is(err, db.ErrForeignKey):
		if key == "" {
			return newErr(CodeBucketNotEmpty, bucket, key, err)
		}
		return newErr(CodeNoSuchBucket, bucket, key, err)
	case errors.Is(err, db.ErrLocked):
		return newErr(CodeLocked, bucket, key, err)
	case db.SQLState(err) == "53300":
		// Too many connections, at connect or later: the reference's 429 SlowDown.
		return newErr(CodeTooManyConnections, bucket, key, err)
	case errors.Is(err, db.ErrTimeout), errors.Is(err, db.ErrUnavailable), errors.Is(err, db.ErrRetry):
		// Retryable: the database was down, restarting, hung or out of connections, or the
		// transaction lost a deadlock; nothing was committed. S3 and TUS answer 503, REST
		// the reference's 544 DatabaseTimeout.
		return newErr(CodeDatabaseTimeout, bucket, key, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return newErr(CodeDatabaseTimeout, bucket, key, err)
	case errors.Is(err, db.ErrInvalidText):
		// A safety net: the engine checks client text first (metadata.go).
		return &Error{Code: CodeInvalidArgument, Bucket: bucket, Key: key, Err: err,
			Message: "The request holds text the database cannot store (NUL or invalid UTF-8)"}
	}
	// The reference's words: the SQLSTATE says what failed (22023: a JWT role Postgres does
	// not know) without showing the server's message.
	msg := "database error"
	if state := db.SQLState(err); state != "" {
		msg += ", code: " + state
	}
	return &Error{Code: CodeDatabaseError, Bucket: bucket, Key: key, Message: msg, Err: fmt.Errorf("database: %w", err)}
}

// detached returns a context for cleanup that must finish even when the request's context
// is gone (the client hung up after commit): removing superseded bytes is not the client's
// to cancel.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

// storeErr translates a store failure on bucket/key: missing bytes are NoSuchKey (the row
// exists but its blob does not), an unreachable store is Unavailable (503, retryable), a
// full or read-only one InsufficientStorage (507), anything else is ours.
func storeErr(err error, bucket, key string) *Error {
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return &Error{Code: CodeNoSuchKey, Bucket: bucket, Key: key, Message: "The resource was not found", Err: err}
	case errors.Is(err, backend.ErrUnavailable):
		return &Error{Code: CodeUnavailable, Bucket: bucket, Key: key, Err: err}
	case isInsufficientStorage(err):
		return insufficientStorage(err, bucket, key)
	}
	return &Error{Code: CodeInternal, Bucket: bucket, Key: key, Err: fmt.Errorf("store: %w", err)}
}
