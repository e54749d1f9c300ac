package backendtest

import (
	"errors"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// SmallDisk mounts a new tmpfs of size bytes on a temporary folder and returns the folder;
// it is unmounted when the test ends. Tests of a full disk write past size and get ENOSPC
// from a real file system, not from a mock. The test is skipped when this process may not
// mount (not root, or a container without CAP_SYS_ADMIN); CI runs as root.
func SmallDisk(t testing.TB, size int) string {
	t.Helper()
	dir := t.TempDir()
	err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+strconv.Itoa(size)+",mode=0755")
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN): %v", err)
	}
	if err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		// Lazy: a file a failed test left open must not keep the mount (and the folder
		// TempDir removes next) busy.
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// SetReadOnly remounts a SmallDisk folder read-only (ro true) or read-write: writes then
// fail with EROFS, as on a file system the kernel remounted read-only after an I/O error.
func SetReadOnly(t testing.TB, dir string, ro bool) {
	t.Helper()
	flags := uintptr(unix.MS_REMOUNT | unix.MS_NOSUID | unix.MS_NODEV)
	if ro {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, ""); err != nil {
		t.Fatalf("remount %s (read-only %v): %v", dir, ro, err)
	}
}
