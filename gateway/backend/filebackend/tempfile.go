package filebackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// tempFile is a blob being written. Where the folder's file system has O_TMPFILE (ext4, xfs,
// btrfs, tmpfs since Linux 3.11-3.15) it is an unnamed file in the final folder, linked under
// its final name when complete: no temporary name to create, rename or sweep, and a crash
// before the link leaves nothing behind. Elsewhere it is a hidden file in the final folder,
// renamed into place (one folder: atomic, and never across file systems).
type tempFile struct {
	s     *Store
	fd    int
	f     *os.File // fd as an *os.File, made on demand (copy_file_range); owns fd then
	dirs  []string // folder segments below the base
	dirfd int
	name  string // temporary name in dirfd; "" for an unnamed file
	final string // final name in dirfd
	done  bool   // published
}

// linkMode is how an unnamed file gets its name; New finds the first that works in the base.
type linkMode int

const (
	// linkNone: no O_TMPFILE (or no way to link one): named temporary files and rename.
	linkNone linkMode = iota
	// linkEmptyPath: linkat(fd, "", AT_EMPTY_PATH): with CAP_DAC_READ_SEARCH, or (recent
	// kernels) to the process that opened the file.
	linkEmptyPath
	// linkProcFD: linkat of /proc/self/fd/N with AT_SYMLINK_FOLLOW, allowed to any user
	// while /proc is mounted.
	linkProcFD
)

// probeLink reports how unnamed files can be linked in dirfd. It leaves nothing behind
// (unless it crashes between link and unlink: then a temporary name SweepTemp removes).
func probeLink(dirfd int) linkMode {
	fd, err := openat(dirfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return linkNone
	}
	defer unix.Close(fd)
	name := tempName("probe")
	for _, m := range [...]linkMode{linkEmptyPath, linkProcFD} {
		if linkFD(m, fd, dirfd, name) == nil {
			unix.Unlinkat(dirfd, name, 0)
			return m
		}
	}
	return linkNone
}

// linkFD gives the unnamed file fd the name name in dirfd (a single segment: nothing is
// resolved but the name itself, and an existing name is EEXIST, never followed).
func linkFD(m linkMode, fd, dirfd int, name string) error {
	if m == linkEmptyPath {
		return unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
	}
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
}

// tmpfileUnsupported reports errors of an O_TMPFILE open meaning "not on this file system or
// kernel" (a kernel older than O_TMPFILE takes it for O_DIRECTORY and answers EISDIR).
func tmpfileUnsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL)
}

// folderRemoved reports whether err, from creating a file in dirfd, means that the folder
// was removed meanwhile: ENOENT, or ext4's EPERM for a new inode in a folder with no links.
func folderRemoved(dirfd int, err error) bool {
	if errors.Is(err, unix.ENOENT) {
		return true
	}
	var st unix.Stat_t
	return errors.Is(err, unix.EPERM) && unix.Fstat(dirfd, &st) == nil && st.Nlink == 0
}

// tempName is tempPrefix, a random part, and the final name cut short enough that the
// result stays within NAME_MAX (the final name is kept only to help a human reading the folder).
func tempName(final string) string {
	const keep = maxSegment - len(tempPrefix) - 16 - 1
	return fmt.Sprintf("%s%016x~%s", tempPrefix, rand.Uint64(), final[:min(len(final), keep)])
}

// createTemp makes the folders of segs and a new temporary file in the last one.
func (s *Store) createTemp(segs []string) (t *tempFile, err error) {
	dirs, final := segs[:len(segs)-1], segs[len(segs)-1]
	s.pins.pin(dirs) // until discard
	defer func() {
		if err != nil {
			s.pins.unpin(dirs)
		}
	}()
	for range maxAttempts {
		var dirfd, fd int
		dirfd, err = s.openDir(dirs, true)
		if errors.Is(err, unix.ENOENT) {
			continue // its own attempts ran out while deleters raced it: start again
		}
		if err != nil {
			return nil, err
		}
		t = &tempFile{s: s, fd: -1, dirs: dirs, dirfd: dirfd, final: final}
		if s.link != linkNone {
			fd, err = openat(dirfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC)
			if err == nil {
				t.fd = fd
				return t, nil
			}
			if !tmpfileUnsupported(err) {
				removed := folderRemoved(dirfd, err)
				unix.Close(dirfd)
				if removed {
					continue // a concurrent Delete or SweepTemp removed the folder: make it again
				}
				return nil, err
			}
			// A file system below the base without O_TMPFILE: a named file will do.
		}
		t.name = tempName(final)
		fd, err = openat(dirfd, t.name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if err == nil {
			t.fd = fd
			return t, nil
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

// file is the temporary file as an *os.File, for io.Copy's copy_file_range.
func (t *tempFile) file() *os.File {
	if t.f == nil {
		t.f = os.NewFile(uintptr(t.fd), t.final)
	}
	return t.f
}

// Write writes all of p to the file (a body is copied through our own buffer, so no
// *os.File is needed: one fcntl fewer per Put).
func (t *tempFile) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(t.fd, p[n:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return n, err
		case m == 0:
			return n, io.ErrShortWrite
		}
		n += m
	}
	return n, nil
}

// commit publishes the file under its final name. A cancelled ctx is the last chance to back
// out; after the link or rename the blob is visible. When commit returns nil the blob, its
// name and its folder's names are durable.
func (t *tempFile) commit(ctx context.Context) error {
	if t.s.beforePublish != nil {
		t.s.beforePublish()
	}
	if t.name != "" {
		return t.commitRename(ctx)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.link(); err != nil {
		return err
	}
	// After the link, so that one fsync of the file makes both its bytes and its link count
	// durable (an fsync before the link would write the inode again after it). A crash before
	// the fsyncs end can leave the name with partial bytes: the blob was never acknowledged,
	// and the engine's write intent names it for the sweep, as a temporary file would be.
	// On ext4, fsync of a file just added to a folder also writes the folder (and its
	// parent when the folder is new too), so the folder's own fsync below finds it clean.
	if t.s.fsync {
		if err := fsyncFD(t.fd); err != nil {
			unix.Unlinkat(t.dirfd, t.final, 0)
			return err
		}
		if err := fsyncFD(t.dirfd); err != nil {
			unix.Unlinkat(t.dirfd, t.final, 0)
			return err
		}
	}
	t.done = true
	return nil
}

// link names the unnamed file. The folder, which held no name while the body streamed, may
// have looked empty to a concurrent Delete or SweepTemp and been removed (ENOENT): make it
// again and link there, the bytes are still ours.
func (t *tempFile) link() error {
	var err error
	for range maxAttempts {
		err = linkFD(t.s.link, t.fd, t.dirfd, t.final)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EEXIST):
			return t.replace()
		case !folderRemoved(t.dirfd, err):
			return err
		}
		dirfd, derr := t.s.openDir(t.dirs, true)
		if derr != nil && !errors.Is(derr, unix.ENOENT) {
			return derr
		}
		if derr == nil {
			unix.Close(t.dirfd)
			t.dirfd = dirfd
		}
	}
	return err
}

// replace publishes over an existing final name (link cannot), atomically as rename does:
// the bytes are made durable first, so the name never points at partial bytes.
func (t *tempFile) replace() error {
	if t.s.fsync {
		if err := fsyncFD(t.fd); err != nil {
			return err
		}
	}
	name := tempName(t.final)
	if err := linkFD(t.s.link, t.fd, t.dirfd, name); err != nil {
		return err
	}
	if err := unix.Renameat(t.dirfd, name, t.dirfd, t.final); err != nil {
		unix.Unlinkat(t.dirfd, name, 0)
		return err
	}
	return nil
}

// commitRename publishes a named temporary file: fsync, rename, fsync the folder.
func (t *tempFile) commitRename(ctx context.Context) error {
	if t.s.fsync {
		if err := fsyncFD(t.fd); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := unix.Renameat(t.dirfd, t.name, t.dirfd, t.final); err != nil {
		return err
	}
	if t.s.fsync {
		if err := fsyncFD(t.dirfd); err != nil {
			// The rename may not be durable; take it back so the failed Put leaves nothing.
			unix.Unlinkat(t.dirfd, t.final, 0)
			return err
		}
	}
	t.done = true
	return nil
}

func fsyncFD(fd int) error {
	for {
		err := unix.Fsync(fd)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// discard releases the file and its folder. Unless commit published it, it removes the
// temporary file (an unnamed one goes with its descriptor) and then the folders this left
// empty, as Delete does.
func (t *tempFile) discard() {
	if t.f != nil {
		t.f.Close() // closes fd; the error is of no use here
	} else {
		unix.Close(t.fd)
	}
	if !t.done && t.name != "" {
		unix.Unlinkat(t.dirfd, t.name, 0)
	}
	unix.Close(t.dirfd)
	t.s.pins.unpin(t.dirs)
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
