package filebackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// tempFile is a blob being written: a hidden file in the folder of its final name, so the
// rename that publishes it stays in one folder (atomic, and never across file systems).
type tempFile struct {
	s     *Store
	f     *os.File
	dirs  []string // folder segments below the base
	dirfd int
	name  string // temporary name in dirfd
	final string // final name in dirfd
	done  bool   // renamed into place
}

// tempName is tempPrefix, a random part, and the final name cut short enough that the
// result stays within NAME_MAX (the final name is kept only to help a human reading the folder).
func tempName(final string) string {
	const keep = maxSegment - len(tempPrefix) - 16 - 1
	return fmt.Sprintf("%s%016x~%s", tempPrefix, rand.Uint64(), final[:min(len(final), keep)])
}

// createTemp makes the folders of segs and a new temporary file in the last one.
func (s *Store) createTemp(segs []string) (*tempFile, error) {
	dirs, final := segs[:len(segs)-1], segs[len(segs)-1]
	var err error
	for range maxAttempts {
		var dirfd, fd int
		dirfd, err = s.openDir(dirs, true)
		if errors.Is(err, unix.ENOENT) {
			continue // its own attempts ran out while deleters raced it: start again
		}
		if err != nil {
			return nil, err
		}
		name := tempName(final)
		fd, err = openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if err == nil {
			return &tempFile{s: s, f: os.NewFile(uintptr(fd), name), dirs: dirs, dirfd: dirfd, name: name, final: final}, nil
		}
		unix.Close(dirfd)
		// EEXIST: the random name is taken, pick another. ENOENT: a concurrent Delete or
		// SweepTemp removed the (empty) folder after we opened it; make it again.
		if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOENT) {
			return nil, err
		}
	}
	return nil, err
}

func (t *tempFile) fd() int { return int(t.f.Fd()) }

// commit publishes the file under its final name: fsync, close, rename, fsync the folder.
// A cancelled ctx is the last chance to back out; after the rename the blob is visible.
func (t *tempFile) commit(ctx context.Context) error {
	if t.s.fsync {
		if err := t.f.Sync(); err != nil {
			return err
		}
	}
	if err := t.f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := unix.Renameat(t.dirfd, t.name, t.dirfd, t.final); err != nil {
		return err
	}
	if t.s.fsync {
		if err := unix.Fsync(t.dirfd); err != nil {
			// The rename may not be durable; take it back so the failed Put leaves nothing.
			unix.Unlinkat(t.dirfd, t.final, 0)
			return err
		}
	}
	t.done = true
	return nil
}

// discard releases the file and its folder. Unless commit published it, it removes the
// temporary file and then the folders this left empty, as Delete does.
func (t *tempFile) discard() {
	t.f.Close() // already closed after commit; the error is of no use here
	if !t.done {
		unix.Unlinkat(t.dirfd, t.name, 0)
	}
	unix.Close(t.dirfd)
	if !t.done {
		t.s.removeEmptyParents(t.dirs)
	}
}

// copyBufSize is the chunk a Put reads before writing: large enough for few write calls,
// small enough that many concurrent uploads stay cheap.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyBody streams src into dst through one pooled buffer, checking ctx between reads. It
// fills the buffer before writing, since network bodies arrive in small reads.
func copyBody(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := 0, error(nil)
		for n < len(buf) && rerr == nil {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			var m int
			m, rerr = src.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}
