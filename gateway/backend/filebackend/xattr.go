package filebackend

import (
	"errors"

	"golang.org/x/sys/unix"
)

// The reference server's file backend keeps these beside the bytes (spec §0.10).
const (
	xattrContentType  = "user.supabase.content-type"
	xattrCacheControl = "user.supabase.cache-control"
)

// setXattrs records content type and cache control on fd, skipping empty values. Extended
// attributes only serve data compatibility (Postgres holds the metadata), so a file system
// that refuses them, or has no room for a long value, is not an error.
func setXattrs(fd int, contentType, cacheControl string) error {
	for _, a := range [...]struct{ name, value string }{
		{xattrContentType, contentType},
		{xattrCacheControl, cacheControl},
	} {
		if a.value == "" {
			continue
		}
		err := unix.Fsetxattr(fd, a.name, []byte(a.value), 0)
		if err != nil && !xattrRefused(err) && !errors.Is(err, unix.ERANGE) {
			return err
		}
	}
	return nil
}

// copyXattrs copies our extended attributes from src to dst, best effort like setXattrs.
func copyXattrs(dst, src int) error {
	ct, err := getXattr(src, xattrContentType)
	if err != nil {
		return err
	}
	cc, err := getXattr(src, xattrCacheControl)
	if err != nil {
		return err
	}
	return setXattrs(dst, ct, cc)
}

// getXattr reads attribute name of fd; a missing attribute or a file system without them
// reads as "".
func getXattr(fd int, name string) (string, error) {
	for range 4 { // the value can change size between the two calls
		n, err := unix.Fgetxattr(fd, name, nil)
		if err == nil && n > 0 {
			buf := make([]byte, n)
			n, err = unix.Fgetxattr(fd, name, buf)
			if err == nil {
				return string(buf[:n]), nil
			}
		}
		switch {
		case err == nil:
			return "", nil
		case errors.Is(err, unix.ENODATA), xattrRefused(err):
			return "", nil
		case !errors.Is(err, unix.ERANGE):
			return "", err
		}
	}
	return "", nil
}

// xattrRefused reports errors meaning "this file system will not keep this attribute".
func xattrRefused(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) ||
		errors.Is(err, unix.E2BIG) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
