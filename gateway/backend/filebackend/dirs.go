package filebackend

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// maxAttempts bounds the retries of a Put whose folder a concurrent Delete or SweepTemp
// removed between our mkdir and our create (both remove folders that look empty). Each
// attempt is a few system calls; 16 were used up by four writers and deleters sharing one
// folder on a loaded machine (TestPutDeleteRace, under -race beside a full test run).
const maxAttempts = 64

// Every path below the base is resolved relative to the base folder's descriptor, one name
// at a time or with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so the kernel, not string
// handling, guarantees that no lookup leaves the base and that no symbolic link below it is
// ever followed (a planted link reads as "not found" and cannot be written through).

// openBeneath opens segs below the base with flags (O_NOFOLLOW and O_CLOEXEC are added).
func (s *Store) openBeneath(segs []string, flags int) (int, error) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	if !s.noOpenat2.Load() {
		fd, err := s.openat2(strings.Join(segs, "/"), flags)
		if !s.fallBack(err) {
			return fd, err
		}
	}
	dirfd, err := s.walk(segs[:len(segs)-1], false)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dirfd)
	return openat(dirfd, segs[len(segs)-1], flags)
}

// openDir opens the folder dirs below the base (the base itself when dirs is empty). With
// create, missing folders are made, each new entry made durable before anything goes inside.
func (s *Store) openDir(dirs []string, create bool) (int, error) {
	if !s.noOpenat2.Load() {
		name := "."
		if len(dirs) > 0 {
			name = strings.Join(dirs, "/")
		}
		fd, err := s.openat2(name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if !s.fallBack(err) && !(create && errors.Is(err, unix.ENOENT)) {
			return fd, err
		}
		if create && errors.Is(err, unix.ENOENT) && len(dirs) > 1 {
			// Usually only the last folder is missing (a new key's, below its bucket's):
			// open its parent in one call and make it there, instead of walking from the
			// base (two lookups and a close fewer per new key). A parent missing too, or
			// removed meanwhile by a Delete, takes the walk below.
			last := len(dirs) - 1
			pfd, perr := s.openat2(strings.Join(dirs[:last], "/"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
			if perr == nil {
				fd, err = s.makeDirAt(pfd, dirs[last])
				unix.Close(pfd)
				if err == nil || !errors.Is(err, unix.ENOENT) {
					return fd, err
				}
			}
		}
	}
	var err error
	for range maxAttempts {
		var fd int
		fd, err = s.walk(dirs, create)
		if err == nil || !create || !errors.Is(err, unix.ENOENT) {
			return fd, err
		}
	}
	return -1, err
}

// walk opens dirs one name at a time with O_NOFOLLOW, creating missing ones with create.
func (s *Store) walk(dirs []string, create bool) (int, error) {
	fd, owned := s.baseFD, false
	for _, d := range dirs {
		next, err := openDirAt(fd, d)
		if create && errors.Is(err, unix.ENOENT) {
			next, err = s.makeDirAt(fd, d)
		}
		if owned {
			unix.Close(fd)
		}
		if err != nil {
			return -1, err
		}
		fd, owned = next, true
	}
	if !owned {
		return openDirAt(s.baseFD, ".")
	}
	return fd, nil
}

// makeDirAt makes the folder name in dirfd (one made meanwhile by another writer will do)
// and opens it.
func (s *Store) makeDirAt(dirfd int, name string) (int, error) {
	err := unix.Mkdirat(dirfd, name, 0o755)
	if (err == nil || errors.Is(err, unix.EEXIST)) && s.fsync {
		// The new entry must survive a crash for the blob published inside it to. EEXIST:
		// a concurrent Put made it and may not have fsynced it yet; sharing the next fsync
		// of the folder costs little.
		err = s.syncs.sync(dirfd)
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	return openDirAt(dirfd, name)
}

func openDirAt(dirfd int, name string) (int, error) {
	return openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
}

func openat(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0o644)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// openat2 resolves name strictly beneath the base without following any symbolic link.
func (s *Store) openat2(name string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags),
		Mode:    0,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(s.baseFD, name, &how)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// fallBack reports whether an openat2 result calls for the name-by-name walk: always when the
// kernel (or a seccomp filter) lacks openat2, which also turns the fast path off for good, and
// once when the kernel saw a concurrent rename and asks us to retry.
func (s *Store) fallBack(err error) bool {
	switch {
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM), errors.Is(err, unix.EINVAL),
		errors.Is(err, unix.E2BIG):
		s.noOpenat2.Store(true)
		return true
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EXDEV):
		return true
	}
	return false
}

// isMissing reports whether a lookup error means "no blob there": the name or a folder on the
// way is missing, is not a folder, or is a symbolic link we refuse to follow.
func isMissing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)
}

// removeEmptyParents removes dirs from the deepest up while they are empty, stopping at the
// first one that is not (or that a concurrent writer just filled), or that a Put of this
// process is using (folderPins). The base is never removed. A Put of another process racing
// with this retries its mkdir and create when it finds its folder gone.
func (s *Store) removeEmptyParents(dirs []string) {
	for i := len(dirs); i > 0; i-- {
		parent, err := s.openDir(dirs[:i-1], false)
		if err != nil {
			return
		}
		removed, err := s.pins.removeIfUnpinned(dirs[:i], func() error {
			return unix.Unlinkat(parent, dirs[i-1], unix.AT_REMOVEDIR)
		})
		unix.Close(parent)
		if !removed || (err != nil && !errors.Is(err, unix.ENOENT)) {
			return // pinned or ENOTEMPTY/EEXIST: still in use; anything else: leave it for the sweeper
		}
	}
}
