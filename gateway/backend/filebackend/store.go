// Package filebackend keeps blobs as files below a local folder, laid out like the reference
// server's file backend (spec §0.10): the blob of key lives at <root>/<SubDir>/<key>, with its
// content type and cache control in the extended attributes user.supabase.content-type and
// user.supabase.cache-control.
//
// Writes go to an unnamed file (O_TMPFILE) in the final folder, linked under the final name
// when the body ended and then fsynced with its folder, so a crash mid-write leaves nothing
// and an acknowledged blob is whole and durable (a crash between the link and the fsync can
// leave a partial blob under a name no row points at yet: the engine's write intent names it
// for the sweep). Where the file system lacks O_TMPFILE they go to a temporary file beside the
// final name (".stowage-tmp~..."), fsynced and renamed into place; a crash can leave those,
// and SweepTemp removes them.
//
// Path safety: keys are split into segments, "." and ".." segments, NUL bytes, overlong
// names and paths are refused with backend.ErrInvalidKey, and every lookup is done by the
// kernel relative to the base folder's descriptor without following symbolic links. A
// symbolic link planted anywhere below the base reads as "not found", and writes through it
// fail: no Store method reads, writes or removes anything outside <root>/<SubDir>.
package filebackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/gateway/backend"
)

var (
	_ backend.Store      = (*Store)(nil)
	_ backend.Copier     = (*Store)(nil)
	_ backend.Composer   = (*Store)(nil)
	_ backend.ReaderInto = (*Store)(nil)
	// The engine's sweep finds temporary files through it (the inline store forwards it).
	_ backend.TempSweeper = (*Store)(nil)
)

// Options configure a Store. The zero value is safe: blobs directly below root, fsync on.
type Options struct {
	// SubDir is the folder below root that holds the blobs: the reference server's
	// STORAGE_S3_BUCKET. Empty means root itself.
	SubDir string
	// NoFsync skips fsync of files and folders. Faster, but after a power loss a blob whose
	// Put returned nil may be missing or truncated.
	NoFsync bool
}

// Store keeps blobs in a local folder. It is safe for concurrent use.
type Store struct {
	base      string // absolute <root>/<SubDir>, for messages and path lengths
	baseFD    int
	fsync     bool
	noOpenat2 atomic.Bool // set when the kernel lacks openat2 (or by tests)
	link      linkMode    // how new blobs are published (probed by New; tests may lower it)
	syncs     folderSyncs // fsyncs of a folder shared by concurrent Puts
	pins      folderPins  // folders our Puts are writing in: Delete leaves them
	// beforePublish, when set (tests), runs in a Put after the body was written, just before
	// the blob gets its name.
	beforePublish func()
	listBatch     int // List's per-folder bound; 0: defaultListBatch (tests lower it)
}

// New opens (creating it if needed) the folder <root>/<SubDir> as a Store.
func New(root string, opts Options) (*Store, error) {
	if root == "" {
		return nil, errors.New("filebackend: empty root folder")
	}
	base, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("filebackend: root %q: %w", root, err)
	}
	if opts.SubDir != "" {
		segs, err := splitKey(opts.SubDir)
		if err != nil {
			return nil, fmt.Errorf("filebackend: SubDir: %w", err)
		}
		base = filepath.Join(append([]string{base}, segs...)...)
	}
	if len(base) > maxPath {
		return nil, fmt.Errorf("filebackend: folder path %q is too long", base)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("filebackend: %w", err)
	}
	fd, err := unix.Open(base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("filebackend: open %s: %w", base, err)
	}
	return &Store{base: base, baseFD: fd, fsync: !opts.NoFsync, link: probeLink(fd)}, nil
}

// Dir is the folder holding the blobs, <root>/<SubDir>.
func (s *Store) Dir() string { return s.base }

// Close releases the base folder. No call may run concurrently with or after Close.
func (s *Store) Close() error {
	return unix.Close(s.baseFD)
}

// CheckKey reports whether key can be stored (backend.ErrInvalidKey when not), as Put would
// find it, without touching the disk: a store that keeps some blobs elsewhere (package
// inline) refuses the same keys.
func (s *Store) CheckKey(key string) error {
	_, err := s.segments(key)
	return err
}

// segments validates key and returns its path segments below the base.
func (s *Store) segments(key string) ([]string, error) {
	segs, err := splitKey(key)
	if err != nil {
		return nil, err
	}
	if n := pathLen(s.base, segs); n > maxPath {
		return nil, invalidKey(key, fmt.Sprintf("path of %d bytes (limit %d)", n, maxPath))
	}
	return segs, nil
}

// Put stores body under key atomically: it streams into a temporary file in the final
// folder, checks the size, publishes it under key and fsyncs file and folder. An error from body is
// returned wrapped (errors.Is finds it), as is ctx's error when it ends mid-stream.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, opts backend.PutOptions) (backend.Written, error) {
	segs, err := s.segments(key)
	if err != nil {
		return backend.Written{}, err
	}
	if err := ctx.Err(); err != nil {
		return backend.Written{}, fmt.Errorf("filebackend: put %q: %w", key, err)
	}
	t, err := s.createTemp(segs)
	if err != nil {
		return backend.Written{}, writeErr("put", key, err)
	}
	defer t.discard()
	src := body
	if opts.Size >= 0 {
		// One byte more than declared is enough to tell a long body.
		src = io.LimitReader(body, opts.Size+1)
	}
	n, err := copyBody(ctx, t, src)
	if err != nil {
		return backend.Written{}, writeErr("put", key, err)
	}
	if opts.Size >= 0 && n != opts.Size {
		return backend.Written{}, sizeMismatch(key, opts.Size, n)
	}
	if err := setXattrs(t.fd, opts.ContentType, opts.CacheControl); err != nil {
		return backend.Written{}, writeErr("put", key, err)
	}
	if err := t.commit(ctx); err != nil {
		return backend.Written{}, writeErr("put", key, err)
	}
	return backend.Written{Size: n}, nil
}

// writeErr wraps a failed write of key. A full or read-only file system (ENOSPC, EDQUOT,
// EROFS) is also backend.ErrInsufficientStorage, so the engine can tell it from a fault of
// ours; the errno stays in the chain for the log.
func writeErr(op, key string, err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) || errors.Is(err, unix.EROFS) {
		return fmt.Errorf("filebackend: %s %q: %w: %w", op, key, backend.ErrInsufficientStorage, err)
	}
	return fmt.Errorf("filebackend: %s %q: %w", op, key, err)
}

func sizeMismatch(key string, want, got int64) error {
	if got > want {
		return fmt.Errorf("filebackend: put %q: %w: body is longer than the declared %d bytes",
			key, backend.ErrSizeMismatch, want)
	}
	return fmt.Errorf("filebackend: put %q: %w: declared %d bytes, got %d",
		key, backend.ErrSizeMismatch, want, got)
}

// Open returns the bytes of r. Length <= 0 means "to the end" (so the zero Range is the whole
// blob, as backend.Range documents), a range past the end is cut at the end, and an Offset at
// or past the end gives an empty reader: the engine validates ranges before calling. The
// reader's WriteTo lets sendfile/copy_file_range move the bytes when the destination allows.
func (s *Store) Open(ctx context.Context, key string, r backend.Range) (io.ReadCloser, error) {
	if r.Offset < 0 {
		return nil, fmt.Errorf("filebackend: open %q: negative offset %d", key, r.Offset)
	}
	f, size, err := s.openBlob(ctx, "open", key)
	if err != nil {
		return nil, err
	}
	n := max(size-r.Offset, 0)
	if r.Length > 0 && r.Length < n {
		n = r.Length
	}
	if n > 0 && r.Offset > 0 {
		if _, err := f.Seek(r.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("filebackend: open %q: %w", key, err)
		}
	}
	return &blobReader{f: f, lr: io.LimitedReader{R: f, N: n}}, nil
}

// blobReader reads a range of a blob file.
type blobReader struct {
	f  *os.File
	lr io.LimitedReader
}

func (b *blobReader) Read(p []byte) (int, error) { return b.lr.Read(p) }

// WriteTo hands the *os.File (under its limit) to w's ReadFrom, so a socket can sendfile and
// a file can copy_file_range.
func (b *blobReader) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, &b.lr) }

func (b *blobReader) Close() error { return b.f.Close() }

// ReadInto reads the selected bytes of key into dst with one pread on a descriptor of its
// own: no *os.File (its finalizer and fcntl calls), no stream. A range whose length, as the
// file's size resolves it, is not len(dst) is an error: the row and the file disagree.
func (s *Store) ReadInto(ctx context.Context, key string, r backend.Range, dst []byte) error {
	if r.Offset < 0 {
		return fmt.Errorf("filebackend: open %q: negative offset %d", key, r.Offset)
	}
	fd, _, size, err := s.openBlobFD(ctx, "open", key)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	n := max(size-r.Offset, 0)
	if r.Length > 0 && r.Length < n {
		n = r.Length
	}
	if n != int64(len(dst)) {
		return fmt.Errorf("filebackend: open %q: %d bytes to read, %d expected", key, n, len(dst))
	}
	for got := 0; got < len(dst); {
		m, err := unix.Pread(fd, dst[got:], r.Offset+int64(got))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("filebackend: read %q: %w", key, err)
		case m == 0:
			return fmt.Errorf("filebackend: read %q: %w", key, io.ErrUnexpectedEOF)
		}
		got += m
	}
	return nil
}

// openBlob opens key's file for reading; anything but a regular file (a folder, a symbolic
// link, a FIFO someone planted) is ErrNotFound.
func (s *Store) openBlob(ctx context.Context, op, key string) (*os.File, int64, error) {
	fd, segs, size, err := s.openBlobFD(ctx, op, key)
	if err != nil {
		return nil, 0, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("filebackend: %s %q: %w", op, key, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(append([]string{s.base}, segs...)...)), size, nil
}

// openBlobFD is openBlob's descriptor, still O_NONBLOCK (which reads of a regular file
// ignore), with the key's segments and the file's size.
func (s *Store) openBlobFD(ctx context.Context, op, key string) (int, []string, int64, error) {
	segs, err := s.segments(key)
	if err != nil {
		return -1, nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return -1, nil, 0, fmt.Errorf("filebackend: %s %q: %w", op, key, err)
	}
	// O_NONBLOCK keeps a planted FIFO from blocking the open.
	fd, err := s.openBeneath(segs, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return -1, nil, 0, lookupError(op, key, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, nil, 0, fmt.Errorf("filebackend: %s %q: %w", op, key, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, nil, 0, fmt.Errorf("%w: %q: not a regular file", backend.ErrNotFound, key)
	}
	return fd, segs, st.Size, nil
}

func lookupError(op, key string, err error) error {
	if isMissing(err) {
		return fmt.Errorf("%w: %q (%s: %v)", backend.ErrNotFound, key, op, err)
	}
	return fmt.Errorf("filebackend: %s %q: %w", op, key, err)
}

// Stat reports the size of key's blob.
func (s *Store) Stat(ctx context.Context, key string) (backend.Info, error) {
	segs, err := s.segments(key)
	if err != nil {
		return backend.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return backend.Info{}, fmt.Errorf("filebackend: stat %q: %w", key, err)
	}
	fd, err := s.openBeneath(segs, unix.O_PATH)
	if err != nil {
		return backend.Info{}, lookupError("stat", key, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return backend.Info{}, fmt.Errorf("filebackend: stat %q: %w", key, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return backend.Info{}, fmt.Errorf("%w: %q: not a regular file", backend.ErrNotFound, key)
	}
	return backend.Info{Size: st.Size}, nil
}

// Delete removes the keys' blobs, then their folders that became empty (never the base).
// Missing keys, and keys naming a folder rather than a blob, are not an error. All keys are
// validated before anything is removed.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	all := make([][]string, len(keys))
	for i, key := range keys {
		segs, err := s.segments(key)
		if err != nil {
			return err
		}
		all[i] = segs
	}
	for i, segs := range all {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("filebackend: delete %q: %w", keys[i], err)
		}
		if err := s.deleteOne(segs); err != nil {
			return writeErr("delete", keys[i], err)
		}
	}
	return nil
}

func (s *Store) deleteOne(segs []string) error {
	dirs := segs[:len(segs)-1]
	dirfd, err := s.openDir(dirs, false)
	if isMissing(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = unix.Unlinkat(dirfd, segs[len(segs)-1], 0)
	unix.Close(dirfd)
	switch {
	case errors.Is(err, unix.EISDIR):
		return nil // a folder of other keys, not a blob
	case err != nil && !errors.Is(err, unix.ENOENT):
		return err
	}
	// Deletes are not fsynced: one that a crash undoes leaves an unreferenced blob, which is
	// harmless (the engine deletes bytes only after the metadata row stopped naming them).
	s.removeEmptyParents(dirs)
	return nil
}
