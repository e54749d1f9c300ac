// Package backend defines where object bytes live. A Store keeps opaque blobs under keys the
// engine chooses (one key per object version) and knows nothing of buckets, owners or
// metadata rows: Postgres remembers what a key means. Stores return their own sentinel
// errors, never HTTP or S3 wire errors.
package backend

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned when a key (or an upload) does not exist in the store.
var ErrNotFound = errors.New("backend: not found")

// ErrInvalidKey is returned when a key cannot be stored safely (it would escape the store's
// root, holds a NUL byte, has an overlong segment, ...). The engine validates keys first; this
// is the store's own last line of defence.
var ErrInvalidKey = errors.New("backend: invalid key")

// ErrSizeMismatch is returned by Put/PutPart when the body ended before, or ran past, the
// declared size. Nothing is left visible under the key.
var ErrSizeMismatch = errors.New("backend: body size does not match declared size")

// ErrUnavailable is returned when the store cannot serve right now: its upstream refused the
// connection, timed out, answered with a server error or throttling, or is misconfigured
// (a missing upstream bucket). The engine reports it as 503 (S3 SlowDown/ServiceUnavailable)
// so clients retry, instead of as a missing object or an internal error.
var ErrUnavailable = errors.New("backend: unavailable")

// ErrInsufficientStorage is returned when the store has no room for the bytes: a full disk
// or quota, a read-only file system, an upstream that reports itself full. The failed write
// leaves nothing behind. The engine reports it as 507 Insufficient Storage, which clients do
// not retry: a full disk does not empty itself within a retry's back-off.
var ErrInsufficientStorage = errors.New("backend: insufficient storage")

// Range selects bytes of a blob. Length < 0 means "to the end". The zero Range is the whole blob.
type Range struct {
	Offset int64
	Length int64
}

// Whole is the Range of a complete blob.
var Whole = Range{Offset: 0, Length: -1}

// PutOptions describe a blob being written. Size < 0 means unknown (stream until EOF).
// ContentType and CacheControl are advisory: stores that can keep them beside the bytes (file
// xattrs, S3 object headers) do so for data compatibility with the reference server.
type PutOptions struct {
	Size         int64
	ContentType  string
	CacheControl string
}

// Written reports what a Put stored.
type Written struct {
	Size int64
	// MD5 is the MD5 digest (16 bytes) of the stored bytes when the store learned it while
	// storing them (an S3 upstream's ETag of a single PutObject), nil otherwise.
	MD5 []byte
}

// Info describes a stored blob.
type Info struct {
	Size int64
}

// Part names one uploaded part when finishing a multipart upload.
type Part struct {
	Number int
	ETag   string
}

// Store keeps object bytes.
//
// Put must be atomic: until it returns nil, nothing is visible under key, and a failed or
// cancelled Put leaves nothing behind under key (temporary data may remain for a sweep).
// Overwriting an existing key is allowed but the engine never does it (it writes a new
// version key instead).
type Store interface {
	Put(ctx context.Context, key string, body io.Reader, opts PutOptions) (Written, error)
	// Open returns the selected bytes. The caller closes the reader.
	Open(ctx context.Context, key string, r Range) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the keys; keys that do not exist are not an error.
	Delete(ctx context.Context, keys ...string) error
}

// ReaderInto is an optional capability: a store that reads a range of a blob straight into
// memory the caller owns, cheaper than Open, Read and Close for a small object (the file
// store: one open, one fstat, one pread, one close, and no *os.File). ReadInto fills dst
// with the selected bytes and fails when the range, as the blob's size resolves it, is
// not exactly len(dst) bytes long. The engine falls back to Open when a store lacks it.
type ReaderInto interface {
	ReadInto(ctx context.Context, key string, r Range, dst []byte) error
}

// MD5Provider is an optional capability: a store that learns the MD5 of the bytes it stores
// without hashing them in the gateway (an S3 upstream computes it for its ETag). The engine
// asks before a Put streams; when the answer is true it skips its own MD5 pass and takes
// Written.MD5. A store that answered true but returns no Written.MD5 (the upstream turned
// out to answer other ETags, e.g. SSE-KMS) costs the engine a read-back of the blob, so it
// should answer false from then on.
type MD5Provider interface {
	ProvidesMD5(opts PutOptions) bool
}

// Copier is an optional capability: a server-side copy that moves no bytes through the
// gateway. The engine falls back to Open+Put when a store lacks it.
type Copier interface {
	Copy(ctx context.Context, srcKey, dstKey string) (Written, error)
}

// Multipart is an optional capability of stores that assemble uploads from parts themselves
// (S3 upstreams). Stores without it get parts as separate blobs that the engine concatenates.
type Multipart interface {
	StartUpload(ctx context.Context, key string, opts PutOptions) (uploadID string, err error)
	PutPart(ctx context.Context, key, uploadID string, n int, body io.Reader, size int64) (etag string, err error)
	FinishUpload(ctx context.Context, key, uploadID string, parts []Part) (Written, error)
	AbortUpload(ctx context.Context, key, uploadID string) error
}

// PartETagger is an optional capability of Multipart stores: the ETag the store keeps for
// part n of an upload ("" when it has none). When two uploads of one part number overlap,
// the store keeps the one that finished last; this tells the engine which one that was.
type PartETagger interface {
	PartETag(ctx context.Context, key, uploadID string, n int) (string, error)
}

// Composer is an optional capability: it writes dst as the concatenation of existing blobs,
// in order, without passing the bytes through the gateway's memory (the file store uses
// copy_file_range). Like Put, it is atomic.
type Composer interface {
	Compose(ctx context.Context, dst string, srcs []string, opts PutOptions) (Written, error)
}

// Listed is one blob reported by Lister.List.
type Listed struct {
	Key      string
	Size     int64
	Modified time.Time // when its bytes were last written (S3: LastModified)
}

// Lister is an optional capability: a store that can enumerate its blobs, for the
// consistency check (gateway.Engine.Fsck). List calls fn for every blob whose key starts
// with prefix and sorts after startAfter ("" for no bound), in ascending byte order of key,
// reading one bounded page at a time: memory does not grow with the number of keys. An
// error from fn stops the walk and is returned. Blobs written or removed while List runs
// may or may not be reported; temporary data of writes in progress never is. Keys are
// reported in the form the store keeps them (see SegmentFolder).
type Lister interface {
	List(ctx context.Context, prefix, startAfter string, fn func(Listed) error) error
}

// SegmentFolder is implemented by Listers that keep a key with empty segments ("a//b", a
// trailing "/") under its folded form ("a/b"), as a folder tree does: List reports the
// folded form, so whoever compares listed keys with its own must fold its own the same way
// (drop every empty segment).
type SegmentFolder interface {
	FoldsEmptySegments() bool
}

// TempSweeper is implemented by stores that leave temporary files behind when a process
// dies mid-write: SweepTemp removes those older than olderThan and reports how many. The
// engine's sweep calls it; a store that wraps another forwards it.
type TempSweeper interface {
	SweepTemp(ctx context.Context, olderThan time.Duration) (int, error)
}
