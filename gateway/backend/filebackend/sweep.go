package filebackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SweepTemp removes named temporary files (left by a crash mid-Put where the file system
// lacks O_TMPFILE, whose unnamed files leave nothing) last modified more than
// olderThan ago, then every empty folder below the base, and reports how many files it
// removed. olderThan must exceed the longest upload: a Put whose temporary file is swept
// fails. Folders are removed even when fresh; a Put that finds its folder gone makes it again.
// Symbolic links are never followed. The walk keeps one descriptor open per folder level.
func (s *Store) SweepTemp(ctx context.Context, olderThan time.Duration) (removed int, err error) {
	fd, err := openDirAt(s.baseFD, ".")
	if err != nil {
		return 0, fmt.Errorf("filebackend: sweep: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	removed, err = s.sweepDir(ctx, fd, s.base, cutoff)
	if err != nil {
		return removed, fmt.Errorf("filebackend: sweep: %w", err)
	}
	return removed, nil
}

// sweepDir sweeps the folder dirfd (which it closes); path names it in errors.
func (s *Store) sweepDir(ctx context.Context, dirfd int, path string, cutoff time.Time) (int, error) {
	dir := os.NewFile(uintptr(dirfd), path)
	defer dir.Close()
	removed := 0
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		// Readdirnames, not ReadDir: the latter may lstat by path, which we never do.
		names, err := dir.Readdirnames(256)
		for _, name := range names {
			n, serr := s.sweepEntry(ctx, dirfd, path, name, cutoff)
			removed += n
			if serr != nil {
				return removed, serr
			}
		}
		if errors.Is(err, io.EOF) {
			return removed, nil
		}
		if errors.Is(err, unix.ENOENT) && path != s.base {
			// The folder was removed after we opened it (a Delete, or an upload's parts
			// cleaned up by its completion): nothing is left in it to sweep.
			return removed, nil
		}
		if err != nil {
			return removed, err
		}
	}
}

func (s *Store) sweepEntry(ctx context.Context, dirfd int, path, name string, cutoff time.Time) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return 0, nil // removed meanwhile
		}
		return 0, fmt.Errorf("stat %s/%s: %w", path, name, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		child, err := openDirAt(dirfd, name)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return 0, nil // replaced meanwhile
		}
		if err != nil {
			return 0, err
		}
		n, err := s.sweepDir(ctx, child, path+"/"+name, cutoff)
		if err != nil {
			return n, err
		}
		// Fails with ENOTEMPTY unless the folder is empty: exactly what we want.
		unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		return n, nil
	case unix.S_IFREG:
		mtime := time.Unix(st.Mtim.Unix())
		if !strings.HasPrefix(name, tempPrefix) || !mtime.Before(cutoff) {
			return 0, nil
		}
		if err := unix.Unlinkat(dirfd, name, 0); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return 0, nil
			}
			return 0, fmt.Errorf("remove %s/%s: %w", path, name, err)
		}
		return 1, nil
	}
	return 0, nil
}
