// Package inline keeps the bytes of small objects in Postgres (stowage.small_blobs) and
// everything else in a file-like store beneath it, behind one backend.Store.
//
// Why: on the file store a small upload costs two or three synchronous flushes of the file
// system (the file, its folder, a new folder's parent), each far dearer than the write
// itself; a row in Postgres costs a share of the one WAL flush its object's row commits with
// anyway (docs/engine.md, "Small objects in Postgres").
//
// Where a key lives:
//   - Put with a declared size of at most Max bytes (and a key the file store would keep
//     as it is: no empty, "." or ".." segment) goes to Postgres, anything else to the files.
//   - Reads look in the files first and in Postgres when the files have nothing, so a
//     store that never kept a small blob pays nothing for the lookup (a missing file is one
//     failed openat), and blobs written with Max 0, or before this package, read as before.
//     A Put to Postgres removes a file of the same key so the two never disagree; a Put to
//     the files leaves a row of that key shadowed (files are read first) until Delete.
//   - Delete, List, Copy and Compose cover both.
//
// Durability: a small Put commits without waiting for the WAL flush; the object's own row,
// committed synchronously afterwards, flushes it (db.PutSmallBlob). The engine records a
// write intent before every Put, so a row left by a crash before that commit is swept like
// a file would be.
package inline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
)

// Files is the store beneath: the file store has all of it.
type Files interface {
	backend.Store
	backend.ReaderInto
	backend.Copier
	backend.Composer
	backend.Lister
}

// keyChecker is implemented by stores that refuse some keys (the file store: keys that would
// escape its folder or name its temporary files): the same keys are refused for Postgres.
type keyChecker interface {
	CheckKey(key string) error
}

// MaxLimit caps Max: a row's bytes are read whole into memory, by Put and by every read.
const MaxLimit = 1 << 20

// DefaultMax is the default for Max: a row of up to ~8 KB stays in its heap page.
const DefaultMax = 8 << 10

var (
	_ backend.Store         = (*Store)(nil)
	_ backend.ReaderInto    = (*Store)(nil)
	_ backend.Copier        = (*Store)(nil)
	_ backend.Composer      = (*Store)(nil)
	_ backend.Lister        = (*Store)(nil)
	_ backend.SegmentFolder = (*Store)(nil)
	_ backend.TempSweeper   = (*Store)(nil)
)

// Store is Files plus small blobs in Postgres.
type Store struct {
	files Files
	db    *db.DB
	max   int64
	bufs  sync.Pool // *[]byte of cap max+1
	// afterSpillWrite, when set (tests), runs after Spill wrote a blob's file and before
	// its row goes.
	afterSpillWrite func(key string)
}

// New returns files with blobs of at most max bytes kept in d (max is capped at MaxLimit;
// 0 or less keeps new blobs in the files, and reads still find blobs kept before).
func New(files Files, d *db.DB, max int64) *Store {
	max = min(max, MaxLimit)
	s := &Store{files: files, db: d, max: max}
	s.bufs.New = func() any { b := make([]byte, 0, max+1); return &b }
	return s
}

// Files is the store beneath.
func (s *Store) Files() Files { return s.files }

// Inlines reports whether a blob of size bytes under key is kept in Postgres: a Put of it
// goes there, and so may the engine's own insert of it with its object's row
// (db.Tx.QueueSmallBlob), which spares the write a round trip and a transaction. A key the
// files refuse is not (its Put fails as it would without this package).
func (s *Store) Inlines(key string, size int64) bool {
	if !s.inlined(key, size) {
		return false
	}
	kc, ok := s.files.(keyChecker)
	return !ok || kc.CheckKey(key) == nil
}

// inlined reports whether a Put of size bytes under key goes to Postgres.
func (s *Store) inlined(key string, size int64) bool {
	if size < 0 || size > s.max || s.max <= 0 {
		return false
	}
	if key == "" || strings.IndexByte(key, 0) >= 0 {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// dbErr reports a failed statement as the store's unavailability (503, retried), as a file
// store reports a failing disk; the cause stays in the chain for the log.
func dbErr(op, key string, err error) error {
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("inline: %s %q: %w", op, key, backend.ErrNotFound)
	}
	return fmt.Errorf("inline: %s %q: %w: %w", op, key, backend.ErrUnavailable, err)
}

// Put keeps a body of a declared size of at most Max bytes in Postgres, anything else in
// the files. An error from body comes back wrapped, as does ctx's.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, opts backend.PutOptions) (backend.Written, error) {
	if !s.Inlines(key, opts.Size) {
		return s.files.Put(ctx, key, body, opts)
	}
	if err := ctx.Err(); err != nil {
		return backend.Written{}, fmt.Errorf("inline: put %q: %w", key, err)
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	data, err := ReadDeclared(body, (*bp)[:opts.Size+1])
	if err != nil {
		return backend.Written{}, fmt.Errorf("inline: put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return backend.Written{}, fmt.Errorf("inline: put %q: %w", key, err)
	}
	// A file of this key (the store contract allows overwriting; the engine never does)
	// would shadow the row: remove it first. For a new key this is one failed lookup.
	if err := s.files.Delete(ctx, key); err != nil {
		return backend.Written{}, err
	}
	if err := s.db.PutSmallBlob(ctx, key, data); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return backend.Written{}, fmt.Errorf("inline: put %q: %w", key, cerr)
		}
		return backend.Written{}, dbErr("put", key, err)
	}
	return backend.Written{Size: int64(len(data))}, nil
}

// ReadDeclared reads a body declared to be len(buf)-1 bytes long into buf and returns those
// bytes. It reads one byte more than declared, which is enough to tell a longer body: a
// body shorter or longer than declared is backend.ErrSizeMismatch; r's own failure comes
// back as it is. Both single-request uploads kept with their row (the engine) and Put use
// it.
func ReadDeclared(r io.Reader, buf []byte) ([]byte, error) {
	size := len(buf) - 1
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		return nil, fmt.Errorf("%w: body is longer than the declared %d bytes", backend.ErrSizeMismatch, size)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return nil, err
	}
	if n != size {
		return nil, fmt.Errorf("%w: declared %d bytes, got %d", backend.ErrSizeMismatch, size, n)
	}
	return buf[:n], nil
}

// read returns the blob of key from Postgres, when the files have none.
func (s *Store) read(ctx context.Context, key string) ([]byte, error) {
	data, err := s.db.ReadSmallBlob(ctx, key)
	if err != nil {
		return nil, dbErr("open", key, err)
	}
	return data, nil
}

// cut returns r's bytes of data: a range past the end is cut at the end, Length <= 0 reads
// to the end, as the file store does.
func cut(data []byte, r backend.Range) []byte {
	off := min(r.Offset, int64(len(data)))
	n := int64(len(data)) - off
	if r.Length > 0 && r.Length < n {
		n = r.Length
	}
	return data[off : off+n]
}

// Open returns the bytes of r.
func (s *Store) Open(ctx context.Context, key string, r backend.Range) (io.ReadCloser, error) {
	rc, err := s.files.Open(ctx, key, r)
	if !errors.Is(err, backend.ErrNotFound) {
		return rc, err
	}
	if r.Offset < 0 {
		return nil, fmt.Errorf("inline: open %q: negative offset %d", key, r.Offset)
	}
	data, err := s.read(ctx, key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(cut(data, r))), nil
}

// ReadInto fills dst with the bytes of r; a range that is not len(dst) bytes long is an
// error, as backend.ReaderInto says.
func (s *Store) ReadInto(ctx context.Context, key string, r backend.Range, dst []byte) error {
	err := s.files.ReadInto(ctx, key, r, dst)
	if !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	if r.Offset < 0 {
		return fmt.Errorf("inline: open %q: negative offset %d", key, r.Offset)
	}
	data, err := s.read(ctx, key)
	if err != nil {
		return err
	}
	part := cut(data, r)
	if len(part) != len(dst) {
		return fmt.Errorf("inline: open %q: %d bytes to read, %d expected", key, len(part), len(dst))
	}
	copy(dst, part)
	return nil
}

// Stat reports the size of key's blob.
func (s *Store) Stat(ctx context.Context, key string) (backend.Info, error) {
	info, err := s.files.Stat(ctx, key)
	if !errors.Is(err, backend.ErrNotFound) {
		return info, err
	}
	n, err := s.db.SmallBlobSize(ctx, key)
	if err != nil {
		return backend.Info{}, dbErr("stat", key, err)
	}
	return backend.Info{Size: n}, nil
}

// Delete removes keys from both places; keys that do not exist are no error.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return s.DeleteThen(ctx, keys, func() error {
		if err := s.db.DeleteSmallBlobs(ctx, keys...); err != nil {
			return dbErr("delete", keys[0], err)
		}
		return nil
	})
}

// DeleteThen removes keys' files, then runs rows, which must delete their rows in Postgres:
// the engine's own statement, which also forgets their intents in the same round trip
// (db.ForgetSmallBlobs) or runs in a transaction it holds (the sweep's). Files first, rows
// after, everywhere: Spill relies on that order (a row it finds gone means its file may be
// gone too), and so does the sweep's lock order (db.ForgetSmallBlobs).
func (s *Store) DeleteThen(ctx context.Context, keys []string, rows func() error) error {
	if err := s.files.Delete(ctx, keys...); err != nil {
		return err
	}
	return rows()
}

// Copy copies a blob kept in Postgres within Postgres (one statement, no bytes through the
// gateway) and one kept in the files within the files.
func (s *Store) Copy(ctx context.Context, srcKey, dstKey string) (backend.Written, error) {
	if _, err := s.files.Stat(ctx, srcKey); !errors.Is(err, backend.ErrNotFound) {
		if err != nil {
			return backend.Written{}, err
		}
		return s.files.Copy(ctx, srcKey, dstKey)
	}
	if !s.Inlines(dstKey, 0) {
		// A destination key the files keep differently: through the files.
		return s.concatThrough(ctx, dstKey, []string{srcKey}, backend.PutOptions{Size: -1})
	}
	if err := s.files.Delete(ctx, dstKey); err != nil {
		return backend.Written{}, err
	}
	n, err := s.db.CopySmallBlob(ctx, srcKey, dstKey)
	if err != nil {
		return backend.Written{}, dbErr("copy", srcKey, err)
	}
	return backend.Written{Size: n}, nil
}

// Compose concatenates srcs into dst. With every source in the files the files do it (the
// kernel moves the bytes); otherwise the bytes stream through Put, which keeps a small
// result in Postgres and a larger one in the files.
func (s *Store) Compose(ctx context.Context, dst string, srcs []string, opts backend.PutOptions) (backend.Written, error) {
	small, err := s.db.SmallBlobKeys(ctx, srcs)
	if err != nil {
		return backend.Written{}, dbErr("compose", dst, err)
	}
	if len(small) == 0 {
		return s.files.Compose(ctx, dst, srcs, opts)
	}
	return s.concatThrough(ctx, dst, srcs, opts)
}

// concatThrough writes dst as the concatenation of srcs read one at a time through Open.
// Sizes are checked first, so a missing source or a wrong declared size writes nothing.
func (s *Store) concatThrough(ctx context.Context, dst string, srcs []string, opts backend.PutOptions) (backend.Written, error) {
	var total int64
	for _, key := range srcs {
		info, err := s.Stat(ctx, key)
		if err != nil {
			return backend.Written{}, err
		}
		total += info.Size
	}
	if opts.Size >= 0 && opts.Size != total {
		return backend.Written{}, fmt.Errorf("inline: compose %q: %w: declared %d bytes, sources hold %d",
			dst, backend.ErrSizeMismatch, opts.Size, total)
	}
	opts.Size = total
	src := &backend.Concat{Ctx: ctx, Store: s, Keys: srcs}
	defer src.Close()
	return s.Put(ctx, dst, src, opts)
}

// FoldsEmptySegments is the files' answer: keys with empty segments are always kept there.
func (s *Store) FoldsEmptySegments() bool {
	sf, ok := s.files.(backend.SegmentFolder)
	return ok && sf.FoldsEmptySegments()
}

// SweepTemp sweeps the files' temporary data (Postgres leaves none).
func (s *Store) SweepTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	if ts, ok := s.files.(backend.TempSweeper); ok {
		return ts.SweepTemp(ctx, olderThan)
	}
	return 0, nil
}

// listPage is how many rows of Postgres's side a List reads at a time.
const listPage = 1000

// List reports the blobs of both places in one ascending order of key. A key in both (a
// row shadowed by a file, see Put) is reported once, from the files.
func (s *Store) List(ctx context.Context, prefix, startAfter string, fn func(backend.Listed) error) error {
	rows := &rowLister{ctx: ctx, db: s.db, prefix: prefix, after: startAfter}
	err := s.files.List(ctx, prefix, startAfter, func(l backend.Listed) error {
		if err := rows.emitBefore(l.Key, fn); err != nil {
			return err
		}
		return fn(l)
	})
	if err != nil {
		return err
	}
	return rows.emitBefore("", fn)
}

// rowLister walks stowage.small_blobs below a prefix, a page at a time.
type rowLister struct {
	ctx    context.Context
	db     *db.DB
	prefix string
	after  string // the last key read
	page   []db.SmallBlob
	done   bool
}

// emitBefore reports the rows whose keys sort before key ("" for all that are left) and
// drops a row of key itself (the file shadows it).
func (r *rowLister) emitBefore(key string, fn func(backend.Listed) error) error {
	for {
		if len(r.page) == 0 {
			if r.done {
				return nil
			}
			page, err := r.db.ListSmallBlobs(r.ctx, r.prefix, r.after, listPage)
			if err != nil {
				return dbErr("list", r.prefix, err)
			}
			if len(page) < listPage {
				r.done = true
			}
			for i, b := range page {
				if !strings.HasPrefix(b.Key, r.prefix) {
					page, r.done = page[:i], true
					break
				}
			}
			if len(page) == 0 {
				r.done = true
				return nil
			}
			r.page, r.after = page, page[len(page)-1].Key
		}
		b := r.page[0]
		if key != "" && b.Key >= key {
			if b.Key == key {
				r.page = r.page[1:]
			}
			return nil
		}
		r.page = r.page[1:]
		if err := fn(backend.Listed{Key: b.Key, Size: b.Size, Modified: b.Modified}); err != nil {
			return err
		}
	}
}

// Spill moves every blob kept in Postgres into the files, a page at a time: each is written
// (durably, as any Put to the files) before its row is deleted, and reads look in the files
// first, so a blob is readable throughout. This is the way back to a layout the reference
// server reads (`stowage spill`). headers, when set, gives the content type and cache
// control each file is written with (the file store keeps them beside the bytes, where the
// reference server reads them; a row keeps neither). fn, when set, is told of each key
// moved. A blob whose
// write or delete is under way (an intent names it) is not moved: left counts those still
// in Postgres at the end, for a later run. Run Spill with small blobs off (Max 0) on every
// gateway so no new rows arrive.
func (s *Store) Spill(ctx context.Context, headers func(ctx context.Context, key string) (backend.PutOptions, error),
	fn func(key string, size int64) error) (moved, left int, err error) {
	after := ""
	var skipped []string
	for {
		page, err := s.db.ListSmallBlobs(ctx, "", after, listPage)
		if err != nil {
			return moved, 0, dbErr("spill", after, err)
		}
		for _, b := range page {
			ok, err := s.spillOne(ctx, b.Key, headers)
			if err != nil {
				return moved, 0, err
			}
			if !ok {
				skipped = append(skipped, b.Key)
				continue
			}
			moved++
			if fn != nil {
				if err := fn(b.Key, b.Size); err != nil {
					return moved, 0, err
				}
			}
		}
		if len(page) < listPage {
			break
		}
		after = page[len(page)-1].Key
	}
	if len(skipped) == 0 {
		return moved, 0, nil
	}
	// Skipped keys whose rows went meanwhile (their objects deleted) are not left.
	still, err := s.db.SmallBlobKeys(ctx, skipped)
	if err != nil {
		return moved, 0, dbErr("spill", skipped[0], err)
	}
	return moved, len(still), nil
}

// spillOne moves key's row into a file (db.SpillSmallBlob), and reports whether it did. The
// row stays locked while the file is written, so a concurrent Spill cannot remove the file
// this one made; a delete that starts meanwhile has an intent, which keeps the row and has
// the new file removed again (its deleter may have removed the file before it was written).
func (s *Store) spillOne(ctx context.Context, key string, headers func(ctx context.Context, key string) (backend.PutOptions, error)) (bool, error) {
	var opts backend.PutOptions
	if headers != nil {
		var err error
		if opts, err = headers(ctx, key); err != nil {
			return false, dbErr("spill", key, err)
		}
	}
	var filesErr error
	moved, err := s.db.SpillSmallBlob(ctx, key, func(data []byte) error {
		opts.Size = int64(len(data))
		_, filesErr = s.files.Put(ctx, key, bytes.NewReader(data), opts)
		if filesErr == nil && s.afterSpillWrite != nil {
			s.afterSpillWrite(key)
		}
		return filesErr
	}, func() error {
		filesErr = s.files.Delete(ctx, key)
		return filesErr
	})
	switch {
	case filesErr != nil:
		return false, filesErr
	case err != nil:
		return false, dbErr("spill", key, err)
	}
	return moved, nil
}
