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
	files := make([]*os.File, 0, len(srcs))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	sizes := make([]int64, len(srcs))
	var total int64
	for i, key := range srcs {
		f, size, err := s.openBlob(ctx, op, key)
		if err != nil {
			return backend.Written{}, err
		}
		files = append(files, f)
		sizes[i] = size
		total += size
	}
	if opts.Size >= 0 && total != opts.Size {
		return backend.Written{}, fmt.Errorf("filebackend: %s %q: %w: declared %d bytes, sources hold %d",
			op, dst, backend.ErrSizeMismatch, opts.Size, total)
	}
	t, err := s.createTemp(segs)
	if err != nil {
		return backend.Written{}, fmt.Errorf("filebackend: %s %q: %w", op, dst, err)
	}
	defer t.discard()
	for i, f := range files {
		if err := copyFile(ctx, t.f, f, sizes[i]); err != nil {
			return backend.Written{}, fmt.Errorf("filebackend: %s %q from %q: %w", op, dst, srcs[i], err)
		}
	}
	if keepXattrs && len(files) == 1 {
		err = copyXattrs(t.fd(), int(files[0].Fd()))
	} else {
		err = setXattrs(t.fd(), opts.ContentType, opts.CacheControl)
	}
	if err != nil {
		return backend.Written{}, fmt.Errorf("filebackend: %s %q: %w", op, dst, err)
	}
	if err := t.commit(ctx); err != nil {
		return backend.Written{}, fmt.Errorf("filebackend: %s %q: %w", op, dst, err)
	}
	return backend.Written{Size: total}, nil
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
