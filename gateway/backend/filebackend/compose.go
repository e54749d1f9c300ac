package filebackend

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/stowage/stowage/gateway/backend"
)

// copyChunk is how much one copy_file_range-backed io.CopyN moves between ctx checks.
const copyChunk = 64 << 20

// Copy writes a copy of srcKey's blob, with its extended attributes, under dstKey. Blobs
// are immutable, yet the copy is a real one (not a hard link), so deleting or, one day,
// rewriting either side can never affect the other. The kernel moves the bytes
// (copy_file_range: a reflink on file systems that support it).
func (s *Store) Copy(ctx context.Context, srcKey, dstKey string) (backend.Written, error) {
	return s.concat(ctx, "copy", dstKey, []string{srcKey}, backend.PutOptions{Size: -1}, true)
}

// Compose writes dst as the concatenation of the srcs blobs, in order, atomically like Put.
// When opts.Size >= 0 it must equal the total size (ErrSizeMismatch otherwise, nothing
// written). A missing source is ErrNotFound.
func (s *Store) Compose(ctx context.Context, dst string, srcs []string, opts backend.PutOptions) (backend.Written, error) {
	return s.concat(ctx, "compose", dst, srcs, opts, false)
}

func (s *Store) concat(ctx context.Context, op, dst string, srcs []string, opts backend.PutOptions, keepXattrs bool) (backend.Written, error) {
	segs, err := s.segments(dst)
	if err != nil {
		return backend.Written{}, err
	}
	// Sizes first, so a wrong declared size or a missing source fails before any byte is
	// copied; then one source open at a time: a multipart upload has up to 10,000 parts, and
	// holding them all open would spend that many descriptors on one request.
	sizes := make([]int64, len(srcs))
	var total int64
	for i, key := range srcs {
		info, err := s.Stat(ctx, key)
		if err != nil {
			return backend.Written{}, err
		}
		sizes[i] = info.Size
		total += info.Size
	}
	if opts.Size >= 0 && total != opts.Size {
		return backend.Written{}, fmt.Errorf("filebackend: %s %q: %w: declared %d bytes, sources hold %d",
			op, dst, backend.ErrSizeMismatch, opts.Size, total)
	}
	t, err := s.createTemp(segs)
	if err != nil {
		return backend.Written{}, writeErr(op, dst, err)
	}
	defer t.discard()
	copyAttrs := keepXattrs && len(srcs) == 1
	for i, key := range srcs {
		if err := s.appendBlob(ctx, op, t, key, sizes[i], copyAttrs); err != nil {
			return backend.Written{}, writeErr(op, dst, fmt.Errorf("from %q: %w", key, err))
		}
	}
	if !copyAttrs {
		if err := setXattrs(t.fd, opts.ContentType, opts.CacheControl); err != nil {
			return backend.Written{}, writeErr(op, dst, err)
		}
	}
	if err := t.commit(ctx); err != nil {
		return backend.Written{}, writeErr(op, dst, err)
	}
	return backend.Written{Size: total}, nil
}

// appendBlob appends key's blob, which must still hold size bytes, to t; with keepXattrs it
// also copies the blob's extended attributes.
func (s *Store) appendBlob(ctx context.Context, op string, t *tempFile, key string, size int64, keepXattrs bool) error {
	f, got, err := s.openBlob(ctx, op, key)
	if err != nil {
		return err
	}
	defer f.Close()
	if got != size {
		return fmt.Errorf("%w: source changed from %d to %d bytes", backend.ErrSizeMismatch, size, got)
	}
	if err := copyFile(ctx, t.file(), f, size); err != nil {
		return err
	}
	if keepXattrs {
		return copyXattrs(t.fd, int(f.Fd()))
	}
	return nil
}

// copyFile appends size bytes of src to dst. io.CopyN between two *os.File becomes
// copy_file_range on Linux: the bytes never enter our memory.
func copyFile(ctx context.Context, dst, src *os.File, size int64) error {
	for size > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.CopyN(dst, src, min(size, copyChunk))
		size -= n
		if err == io.EOF {
			return fmt.Errorf("source ended %d bytes early", size)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
